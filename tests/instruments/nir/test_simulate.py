"""nir simulator against its own truth: headers, timing, exact noiseless ramps, averaging, cosmic rays,
saturation, the CLI. Small subarrays only (full frame is marked slow)."""

from __future__ import annotations

import asdf
import numpy as np
import pytest

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product
from calpipe.instruments.nir.detector import FULL_FRAME_TIME, detector_maps
from calpipe.instruments.nir.simulate import READ_PATTERNS, Readout, SimFiles, readout, simulate

BRIGHT = [(20.0, 22.0, 300000.0), (44.5, 40.3, 20000.0), (12.0, 50.0, 300.0)]  # x, y, µJy: saturating to faint


def load(files):
    raw = open_product(files.raw)
    with asdf.open(files.truth, lazy_load=False, memmap=False) as af:
        truth = _plain(af.tree)
    return raw, truth


def _plain(node):
    """The ASDF tree as plain dicts and numpy arrays (usable after the file is closed)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if not str(k).startswith("asdf_")}
    if hasattr(node, "__array__") and not isinstance(node, str | int | float | bool):
        return np.array(node)
    return node


def cut(ro: Readout, name: str) -> np.ndarray:
    array = getattr(detector_maps(), name)
    return array[ro.ystart - 1:ro.ystart - 1 + ro.ny, ro.xstart - 1:ro.xstart - 1 + ro.nx].astype(np.float64)


def measured(ro: Readout, charge_dn: np.ndarray) -> np.ndarray:
    """S = Q - beta Q² with the charge clipped where S reaches the full well."""
    beta, well = cut(ro, "beta"), cut(ro, "full_well")
    q = np.minimum(charge_dn, (1 - np.sqrt(1 - 4 * beta * well)) / (2 * beta))
    return q - beta * q * q


def expected_ramp(ro: Readout, rate: np.ndarray, extra=None) -> np.ndarray:
    """Noiseless groups: bias + mean over the group's frames of S(rate x t_frame [+ extra(frame)])."""
    out = np.empty((ro.ngroups, ro.ny, ro.nx))
    for k in range(ro.ngroups):
        frames = [rate * j * ro.tframe + (0 if extra is None else extra(j)) for j in ro.group_frames(k)]
        out[k] = cut(ro, "bias") + np.mean([measured(ro, q) for q in frames], axis=0)
    return out


@pytest.fixture(scope="module")
def noiseless(tmp_path_factory):
    files = simulate(tmp_path_factory.mktemp("noiseless"), readpatt="MEDIUM8", ngroups=6, subarray=64,
                     seed=3, noiseless=True, sources=BRIGHT, sky=5.0)
    return readout("MEDIUM8", 6, 1, 64), *load(files)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    files = simulate(tmp_path_factory.mktemp("noisy"), readpatt="RAPID", ngroups=10, nints=2, subarray=64,
                     seed=5, sources=BRIGHT, cr_rate=2000.0)
    return readout("RAPID", 10, 2, 64), *load(files)


def test_header_keywords_shapes_and_names(noisy):
    _, raw, truth = noisy
    assert raw.meta.filename == "nir_00001_001_00001_uncal.fits"
    assert truth["parameters"]["raw_file"] == raw.meta.filename
    assert raw.data.shape == (2, 10, 64, 64), "raw shape"
    assert raw.data.dtype == np.uint16, "raw dtype"
    m = raw.meta
    assert (m.instrument.name, m.instrument.detector, m.data_level) == ("NIR", "NRCA1", 1)
    assert m.observation.date_obs == "2026-01-01T00:00:00"
    assert (m.observation.program, m.observation.visit, m.observation.exposure) == ("00001", "001", "00001")
    ex = m.exposure
    assert (ex.readpatt, ex.nints, ex.ngroups, ex.nframes, ex.groupgap, ex.frame_divisor) == ("RAPID", 2, 10, 1, 0, 1)
    assert ex.gain_factor == 1.0
    # centred subarray, clear of the 4-pixel reference border
    assert (m.subarray.name, m.subarray.xstart, m.subarray.ystart, m.subarray.xsize, m.subarray.ysize) == (
        "SUB64", 993, 993, 64, 64)
    assert None not in (m.pointing.ra_ref, m.pointing.dec_ref, m.pointing.roll_ref)
    assert truth["rate"].shape == truth["sky"].shape == (64, 64)
    assert truth["saturated"].shape == truth["first_saturated_group"].shape == (2, 64, 64)
    assert truth["refdrift"].shape == (2, 10, 4, 2)


@pytest.mark.parametrize("patt", ["RAPID", "MEDIUM8", "DEEP8", "SHALLOW2"])
def test_group_timing(patt):
    nframes, groupgap = READ_PATTERNS[patt]
    ro = readout(patt, 7, 1, 160)
    tframe = FULL_FRAME_TIME * 160 * 160 / 2048**2
    assert ro.tframe == pytest.approx(tframe)
    assert ro.tgroup == pytest.approx((nframes + groupgap) * tframe)
    assert ro.exposure_time == pytest.approx(6 * ro.tgroup)
    assert ro.frames_per_integration == 7 * (nframes + groupgap) - groupgap
    # group k averages frames k(nf+gg)+1 .. k(nf+gg)+nf; its mean time is TFRAME (k(nf+gg) + (nf+1)/2)
    assert list(ro.group_frames(2)) == list(range(2 * (nframes + groupgap) + 1, 2 * (nframes + groupgap) + nframes + 1))
    assert ro.group_times()[3] == pytest.approx(tframe * (3 * (nframes + groupgap) + (nframes + 1) / 2))
    assert np.diff(ro.group_times()) == pytest.approx(np.full(6, ro.tgroup))
    # a frame dropped in the gap (or the next group's first) first shows in the next group
    assert ro.group_of_frame(nframes) == 0, "last frame of group 0"
    assert ro.group_of_frame(nframes + 1) == 1, "first frame of group 1"
    assert ro.group_of_frame(nframes + groupgap + 1) == 1, "first frame after the gap is in group 1"
    assert ro.group_of_frame(nframes + groupgap + nframes) == 1, "last frame of group 1"
    assert readout("RAPID", 2, 1, 8).tframe == 0.01  # floor


def test_full_frame_timing_and_header(tmp_path):
    ro = readout("MEDIUM8", 10, 1, "FULL")
    assert (ro.name, ro.xstart, ro.ystart, ro.nx, ro.ny) == ("FULL", 1, 1, 2048, 2048)
    assert ro.tframe == FULL_FRAME_TIME, "frame time is the full-frame time"
    assert ro.tgroup == pytest.approx(10 * FULL_FRAME_TIME), "group time is 10 frames"


def test_noiseless_ramp_is_the_analytic_prediction(noiseless):
    ro, raw, truth = noiseless
    assert truth["cosmic_rays"]["group"].size == 0, "no cosmic rays when noiseless"
    assert not truth["refdrift"].any(), "no reference drift when noiseless"
    expected = expected_ramp(ro, truth["rate"].astype(np.float64))
    diff = raw.data[0].astype(np.float64) - np.clip(np.rint(expected), 0, 65535)
    assert np.abs(diff).max() <= 1, "difference at most 1 DN"
    assert (diff == 0).mean() > 0.999, "almost every pixel exact"
    # the field spans faint to saturated pixels
    assert truth["saturated"].any(), "some pixels saturate"
    assert (raw.data[0, -1] < 20000).any(), "saturated pixels read low in the last group"


def test_truth_rate_and_sky(noiseless):
    ro, _, truth = noiseless
    maps = detector_maps()
    rate = truth["sky"] / maps.photmjsr * cut(ro, "flat") + cut(ro, "dark")
    np.testing.assert_allclose(truth["rate"], rate, rtol=1e-6)
    assert np.median(truth["sky"]) == pytest.approx(5.0, rel=1e-3)
    # each source adds its flux (µJy -> MJy/sr summed over pixels) to the sky
    per_ujy = 1e-12 / maps.pixar_sr
    assert truth["sources"]["flux_mjysr_px"] == pytest.approx(truth["sources"]["flux"] * per_ujy)
    assert (truth["sky"] - 5.0).sum() == pytest.approx(sum(f for *_, f in BRIGHT) * per_ujy, rel=1e-3)
    x, y = np.unravel_index(np.argmax(truth["sky"]), truth["sky"].shape)[::-1]
    assert (x, y) == (20, 22)


def test_truth_rate_is_the_slope_of_a_noiseless_ramp(noiseless):
    ro, raw, truth = noiseless
    rate = truth["rate"].astype(np.float64)
    t = ro.group_times()
    ramp = raw.data[0].reshape(ro.ngroups, -1).astype(np.float64) - cut(ro, "bias").reshape(1, -1)
    slope = np.polyfit(t, ramp, 1)[0].reshape(ro.ny, ro.nx)
    # rounding each group to whole DN moves a least-squares slope by at most 0.5 * sum |w_k|
    rounding = 0.5 * np.abs((t - t.mean()) / ((t - t.mean()) ** 2).sum()).sum()
    low = rate * t[-1] * cut(ro, "beta") < 2e-4  # low signal: nonlinearity below 0.02 %
    assert low.sum() > 1000
    assert (np.abs(slope - rate) < rounding + 2e-4 * rate)[low].all()
    # everywhere below saturation, once the reference linearity correction is applied
    good = ~truth["saturated"][0] & (rate * ro.tgroup < 2000)  # (averaging nonlinear frames costs ~beta*var)
    beta = cut(ro, "beta").reshape(1, -1)
    linear = (ramp + beta * ramp**2 + 2 * beta**2 * ramp**3).reshape(ro.ngroups, -1)
    slope = np.polyfit(t, linear, 1)[0].reshape(ro.ny, ro.nx)
    assert good.sum() > 4000, "more than 4000 good pixels"
    assert (np.abs(slope - rate) < rounding + 1e-3 * rate)[good].all(), "good-pixel slopes match the rate"


def test_groups_are_averages_of_frames(tmp_path):
    """BRIGHT2 group k is the mean of frames 2k+1 and 2k+2, i.e. of RAPID groups 2k and 2k+1."""
    common = dict(subarray=48, seed=7, noiseless=True, sources=BRIGHT[1:], sky=1000.0)
    rapid, _ = load(simulate(tmp_path / "rapid", readpatt="RAPID", ngroups=8, **common))
    bright2, _ = load(simulate(tmp_path / "bright2", readpatt="BRIGHT2", ngroups=4, **common))
    r, b = rapid.data[0].astype(np.float64), bright2.data[0].astype(np.float64)
    mean_pairs = (r[0::2] + r[1::2]) / 2
    assert np.abs(b - mean_pairs).max() <= 1.0
    # and not just one of the two frames: where the signal grows by > 4 DN per frame, it lies between them
    steep = (r[1::2] - r[0::2]) > 4
    assert steep.sum() > 1000
    assert ((b > r[0::2]) & (b < r[1::2]))[steep].all()


def test_cosmic_rays_match_the_ramp_jumps(tmp_path):
    """With noise off, the ramp with cosmic rays minus the ramp without is exactly their charge."""
    common = dict(readpatt="BRIGHT2", ngroups=6, subarray=64, seed=11, noiseless=True, sources=BRIGHT, sky=1.0)
    ro = readout("BRIGHT2", 6, 1, 64)
    with_cr, truth = load(simulate(tmp_path / "cr", cosmic_rays=True, cr_rate=3000.0, **common))
    without, truth0 = load(simulate(tmp_path / "nocr", cosmic_rays=False, **common))
    hits, pixels = truth["cosmic_rays"], truth["cr_pixels"]
    assert hits["group"].size >= 5, "at least 5 cosmic-ray hits"
    assert truth0["cosmic_rays"]["group"].size == 0, "no hits in the noiseless run"
    assert (hits["group"] == ro.group_of_frame(hits["frame"])).all()
    assert (pixels["group"] == hits["group"][pixels["hit"]]).all()
    assert (np.ceil(hits["time"] / ro.tframe) == hits["frame"]).all()
    deposited = np.bincount(pixels["hit"], pixels["charge"], minlength=hits["group"].size)
    inside = (hits["x"] > 3) & (hits["x"] < 60) & (hits["y"] > 3) & (hits["y"] < 60)
    assert deposited[inside] == pytest.approx(hits["charge"][inside], rel=1e-3)

    # exact prediction: charge added from the hit's frame on, through the nonlinearity, frame-averaged
    gain = cut(ro, "gain")
    added = {}
    for frame, y, x, q in zip(pixels["frame"], pixels["y"], pixels["x"], pixels["charge"], strict=True):
        added.setdefault(frame, np.zeros((ro.ny, ro.nx)))[y, x] += q / gain[y, x]

    def extra(j):
        return sum((a for f, a in added.items() if f <= j), np.zeros((ro.ny, ro.nx)))

    expected = np.clip(np.rint(expected_ramp(ro, truth["rate"].astype(np.float64), extra)), 0, 65535)
    diff = with_cr.data[0].astype(np.float64) - expected
    assert np.abs(diff).max() <= 1, "difference at most 1 DN"
    assert (diff == 0).mean() > 0.999, "almost every pixel exact"
    # the jump starts in the recorded group (in part, if the hit came between its frames), all of it after
    jump = with_cr.data[0].astype(np.float64) - without.data[0]
    checked = 0
    for group, y, x, q in zip(pixels["group"], pixels["y"], pixels["x"], pixels["charge"], strict=True):
        single = np.sum((pixels["y"] == y) & (pixels["x"] == x)) == 1
        if q / gain[y, x] > 20 and not truth["saturated"][0, y, x] and single:
            assert np.abs(jump[:group, y, x]).max(initial=0) <= 1
            assert 0 < jump[group, y, x] <= q / gain[y, x] + 1
            if group + 1 < ro.ngroups:
                checked += 1
                assert jump[group + 1:, y, x] == pytest.approx(q / gain[y, x], rel=0.01, abs=1.0)
    assert checked >= 10


def test_cosmic_ray_rate_and_charges(noisy):
    ro, _, truth = noisy
    hits = truth["cosmic_rays"]
    expected = 2000.0 * 64 * 64 * (18e-4) ** 2 * ro.frames_per_integration * ro.tframe * ro.nints
    assert abs(hits["group"].size - expected) < 5 * np.sqrt(expected)
    assert set(hits["int"]) == {0, 1}
    assert np.median(hits["charge"]) == pytest.approx(3000, rel=0.5)


def test_saturated_pixels_are_those_reaching_the_threshold(noisy):
    ro, raw, truth = noisy
    threshold = cut(ro, "saturation")
    data = raw.data.astype(np.float64)
    reached = data >= threshold
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    assert np.array_equal(truth["first_saturated_group"], first)
    assert np.array_equal(truth["saturated"], first >= 0)
    assert 10 < truth["saturated"][0].sum() < 500
    assert len(set(first[first >= 0].tolist())) > 3  # brighter pixels saturate earlier
    # once saturated, a pixel stays above the threshold (the well clips 500 DN above it)
    for i, g, y, x in zip(*np.nonzero(reached), strict=True):
        assert (data[i, g:, y, x] >= threshold[y, x]).all()
    # against the noiseless expectation: every pixel clearly above is flagged, none clearly below
    rate = truth["rate"].astype(np.float64)
    expected = expected_ramp(ro, rate)[-1]
    hit = np.zeros((ro.ny, ro.nx), bool)
    hit[truth["cr_pixels"]["y"], truth["cr_pixels"]["x"]] = True
    assert truth["saturated"][:, expected > threshold + 150].all()
    assert not truth["saturated"][:, (expected < threshold - 150) & ~hit].any()


def test_noise_levels(tmp_path):
    """Frame differences (CDS) carry 14 e- of read noise plus the Poisson noise of the charge collected."""
    ro = readout("RAPID", 20, 1, 128)
    good = cut(ro, "flat") > 0
    good &= detector_maps().dq[ro.ystart - 1:ro.ystart - 1 + 128, ro.xstart - 1:ro.xstart - 1 + 128] == 0
    gain, rn = cut(ro, "gain"), cut(ro, "readnoise")
    for sky in (0.0, 100.0):
        raw, truth = load(simulate(tmp_path / str(sky), readpatt="RAPID", ngroups=20, subarray=128, seed=2,
                                   sources=[], sky=sky, cosmic_rays=False, refdrift=False))
        frames = raw.data[0].astype(np.float64)
        cds = (frames[1::2] - frames[0::2]) * gain  # independent frame pairs, electrons
        # read noise of two frames, Poisson of rate x TFRAME, and rounding to whole DN
        expected = 2 * (rn * gain) ** 2 + truth["rate"] * gain * ro.tframe + gain**2 / 12
        assert np.mean(cds.var(axis=0, ddof=1)[good] / expected[good]) == pytest.approx(1.0, abs=0.02)
        if sky == 0:
            assert cds[:, good].std() == pytest.approx(14.0, rel=0.02)


def test_same_seed_same_data_other_seed_other_noise(tmp_path):
    kw = dict(readpatt="RAPID", ngroups=3, subarray=32)
    a, _ = load(simulate(tmp_path / "a", seed=1, **kw))
    b, _ = load(simulate(tmp_path / "b", seed=1, **kw))
    c, _ = load(simulate(tmp_path / "c", seed=2, **kw))
    assert np.array_equal(a.data, b.data), "same seed gives the same data"
    assert not np.array_equal(a.data, c.data), "other seed gives other data"


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown read pattern 'FAST'"):
        readout("FAST")
    with pytest.raises(ValueError, match="ngroups must be"):
        readout("RAPID", 1)
    with pytest.raises(ValueError, match="subarray must be FULL or a side"):
        readout("RAPID", 4, 1, 2048)
    with pytest.raises(ValueError, match="need sky >= 0"):
        simulate("unused", sky=-1.0)


def test_cli_writes_and_prints_the_paths(tmp_path, capsys):
    out = tmp_path / "sim"
    assert calpipe(["sim", "nir", "--readpatt", "bright2", "--ngroups", "3", "--subarray", "32", "--seed", "4",
                    "--noiseless", "--exposure", "00002", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "nir_00001_001_00002_uncal.fits"), str(out / "nir_00001_001_00002_truth.asdf")]
    raw, truth = load(SimFiles(*printed))
    assert raw.data.shape == (1, 3, 32, 32), "raw shape"
    assert raw.meta.exposure.readpatt == "BRIGHT2", "read pattern"
    assert truth["parameters"]["noiseless"] is True, "truth records noiseless"
    assert truth["parameters"]["seed"] == 4, "truth records the seed"


@pytest.mark.parametrize("args, message", [
    (["--readpatt", "FAST"], "unknown read pattern 'FAST' (choose from RAPID, BRIGHT1"),
    (["--ngroups", "1"], "ngroups must be 2..1000"),
    (["--subarray", "4096"], "subarray must be FULL or a side of 8..2040 pixels"),
    (["--exposure", "../x"], "exposure must be letters and digits"),
])
def test_cli_bad_values_are_usage_errors(tmp_path, capsys, args, message):
    assert calpipe(["sim", "nir", *args, "-o", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_malformed_options_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        calpipe(["sim", "nir", "--ngroups", "0", "-o", str(tmp_path)])
    assert exc.value.code == 2, "usage exit code"
    assert "expected a positive integer, got '0'" in capsys.readouterr().err, "message names the bad count"
    with pytest.raises(SystemExit) as exc:
        calpipe(["sim", "nir", "--ngroups", "3"])
    assert exc.value.code == 2, "usage exit code"
    assert "-o/--output-dir" in capsys.readouterr().err, "message names -o/--output-dir"


def test_cli_help_lists_every_read_pattern(capsys):
    with pytest.raises(SystemExit):
        calpipe(["sim", "nir", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in READ_PATTERNS)


@pytest.mark.slow
def test_full_frame_reference_pixels_carry_the_drift(tmp_path):
    """Reference pixels see only bias + drift + read noise; the drift is common to an amplifier's column parity."""
    raw, truth = load(simulate(tmp_path, readpatt="RAPID", ngroups=3, subarray="FULL", seed=9))
    maps = detector_maps()
    assert raw.data.shape == (1, 3, 2048, 2048), "full-frame shape"
    assert raw.meta.subarray.name == "FULL", "subarray name"
    drift = truth["refdrift"][0]
    rows = np.r_[0:4, 2044:2048]
    for g in range(3):
        residual = raw.data[0, g, rows].astype(np.float64) - maps.bias[rows]
        for amp in range(4):
            for parity in range(2):
                cols = np.arange(amp * 512 + parity, (amp + 1) * 512, 2)
                measured_offset = residual[:, cols].mean()
                assert measured_offset == pytest.approx(drift[g, amp, parity], abs=0.5)
        # no light, dark or cosmic rays: the scatter is the read noise alone
        noise = residual - drift[g][np.arange(2048) // 512, np.arange(2048) % 2][None, :]
        assert noise.std() == pytest.approx(np.sqrt(np.mean(maps.readnoise[rows] ** 2) + 1 / 12), rel=0.05)
    assert truth["rate"][:4].max() == 0, "no flux in the bottom reference rows"
    assert truth["rate"][:, :4].max() == 0, "no flux in the left reference columns"
