"""IRAC detector model, forward-model laws and reference builders: handbook figures, exact laws, stable bytes."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.dqflags import DQ
from calpipe.core.registry import get_registry
from calpipe.instruments.irac import detector as det
from calpipe.instruments.irac import refs
from calpipe.instruments.irac.plugin import REFTYPES
from calpipe.instruments.irac.simulate import fowler_reads, simulate
from calpipe.refdata.store import Store


@pytest.fixture(scope="module", params=[1, 3], ids=["InSb", "SiAs"])
def maps(request):
    return det.detector_maps(request.param)


def good(maps) -> np.ndarray:
    return maps.dq == 0


def test_maps_are_read_only_cached_and_seeded(maps):
    for name in ("flat", "dark_current", "saturation", "alpha"):
        array = getattr(maps, name)
        assert array.shape == (256, 256), f"{name}: shape"
        assert array.dtype == np.float32, f"{name}: dtype"
        assert not array.flags.writeable, name
    assert maps.dq.dtype == np.uint32
    assert det.detector_maps(maps.channel.number) is maps
    assert det.detector_maps(maps.channel.number, det.DEFAULT_SEED + 1).flat[9, 9] != maps.flat[9, 9]
    ft = det.frame_time_maps(maps.channel.number, 12)
    assert ft is det.frame_time_maps(maps.channel.number, 12.0), "frame-time maps are cached (12 and 12.0 are one key)"
    assert not ft.dark_offset.flags.writeable, "frame-time dark offset is read-only"


def test_figures_match_the_handbook(maps):
    ch, ok = maps.channel, good(maps)
    insb = ch.number in (1, 2)
    assert ch.material == ("InSb" if insb else "Si:As"), "detector material"
    assert ch.inverted == insb, "InSb channels are inverted"
    assert ch.muxbleed == insb, "InSb channels show muxbleed"
    assert maps.flat[ok].mean() == pytest.approx(1.0, abs=2e-3)
    assert 0.018 < np.std(maps.flat[ok]) < 0.03
    well = 44000 if insb else 55000
    assert np.median(maps.saturation) == pytest.approx(well, rel=0.01), "median saturation is the full well"
    assert maps.saturation.max() < det.WRAP_THRESHOLD, "saturation stays below the wrap threshold"
    assert np.median(maps.alpha) == pytest.approx(-2e-6 if insb else -6e-7, rel=0.02), "median nonlinearity alpha"
    assert (maps.alpha < 0).all(), "alpha negative everywhere"
    dark_e = np.median(maps.dark_current[ok]) * ch.gain
    assert dark_e == pytest.approx(ch.dark_e, rel=0.05)
    assert ch.gain == {1: 3.3, 3: 3.8}[ch.number], "gain (e/DN)"
    assert ch.fluxconv == {1: 0.1069, 3: 0.5858}[ch.number], "flux conversion (MJy/sr per DN/s)"
    assert maps.readnoise_e(0.6) == (22.0 if insb else 10.0), "read noise at 0.6 s frames"
    assert maps.readnoise_e(100) == (8.0 if insb else 9.0), "read noise at 100 s frames"
    assert pytest.approx((1.22 / 206264.806) ** 2) == det.PIXAR_SR
    # PSF FWHM 1.66" (ch1) / 1.88" (ch3) in 1.22" pixels
    assert ch.psf_sigma_px * 2.3548 * 1.22 == pytest.approx(1.66 if insb else 1.88, rel=1e-4)


def test_bad_pixels(maps):
    hot, dead, low = ((maps.dq & flag) != 0 for flag in (DQ.HOT, DQ.DEAD, DQ.LOW_QE))
    assert 0.001 < hot.mean() < 0.003, "hot-pixel fraction"
    assert 0.0005 < dead.mean() < 0.002, "dead-pixel fraction"
    assert 0.001 < low.mean() < 0.003, "low-QE fraction"
    assert ((maps.dq[hot | dead] & DQ.DO_NOT_USE) != 0).all()
    assert (maps.flat[dead] == 0).all(), "dead pixels have flat 0"
    assert (maps.dark_current[dead] == 0).all(), "dead pixels have dark 0"
    assert maps.flat[low].max() < 0.75
    assert np.median(maps.dark_current[hot]) > 15 * np.median(maps.dark_current[good(maps)])


@pytest.mark.parametrize("frame_time, n, w, barrel", [(0.6, 1, 1, 0), (2, 4, 2, 2), (12, 8, 44, 3), (30, 16, 118, 4),
                                                      (100, 32, 436, 5)])
def test_fowler_timing(frame_time, n, w, barrel):
    ro = det.readout(frame_time)
    assert (ro.fowler, ro.wait, ro.barrel) == (n, w, barrel)
    assert ro.frame_time == pytest.approx(0.2 * (w + 2 * n)), "frame time = 0.2 s x (wait + 2N)"
    assert ro.exposure_time == pytest.approx(0.2 * (w + n)), "exposure time = 0.2 s x (wait + N)"
    assert ro.signal_times[-1] == pytest.approx(ro.frame_time)
    assert ro.signal_times - ro.pedestal_times == pytest.approx(np.full(n, ro.exposure_time))
    assert n * 65535 < 65536 * 2**barrel  # N full-scale reads fit 16 bits after the shift
    assert ro.normalisation == 1.0, "Fowler normalisation"
    assert ro.truncation_bias == pytest.approx((2**barrel - 1) / (2 * n)), "barrel-shift truncation bias (2^B - 1) / 2N"
    assert det.readout(str(frame_time)) == ro


def test_bad_readout_values_are_refused():
    with pytest.raises(ValueError, match=r"frame time must be one of 0\.6, 2, 12, 30, 100 s, got '5'"):
        det.readout(5)
    with pytest.raises(ValueError, match="channel must be 1, 2, 3 or 4, got '5'"):
        det.channel(5)
    assert det.channel("ch2").number == 2


@pytest.mark.parametrize("frame_time", [0.6, 12, 100])
def test_noiseless_fowler_difference_is_the_quadratic_law(frame_time):
    """Below saturation M = L + alpha (T_lin / Te) L² (up to the rounding of the reads), and the inverse is exact."""
    ro = det.readout(frame_time)
    rate = np.geomspace(1.0, 0.8 * 44000 / ro.frame_time, 400)
    alpha, well = np.full(rate.shape, -2e-6), np.full(rate.shape, 44000.0)
    m = fowler_reads(rate, alpha, well, ro, 3.3, 0.0, None).difference / ro.fowler
    law = det.fowler_nonlinear(rate * ro.exposure_time, alpha, ro)
    assert np.abs(m - law).max() <= 1.0  # each of the 2N reads is rounded to a whole DN
    assert np.abs(m - rate * ro.exposure_time).max() > 100  # the nonlinearity is there
    np.testing.assert_allclose(det.fowler_linearize(law, alpha, ro), rate * ro.exposure_time, rtol=1e-10)
    assert ro.nonlinearity_time == pytest.approx(ro.exposure_time + 0.2 * (ro.fowler + 1))


def test_saturated_fowler_difference_falls_again():
    """Brighter than saturation the difference falls (pedestal reads rise), to 0 when every read clips."""
    ro = det.readout(12)
    rate = np.geomspace(100.0, 1e6, 2000)
    alpha, well = np.full(rate.shape, -2e-6), np.full(rate.shape, 44000.0)
    fc = fowler_reads(rate, alpha, well, ro, 3.3, 0.0, None)
    m = fc.difference / ro.fowler
    peak = np.argmax(m)
    first_saturated = np.argmax(fc.saturated)
    # the last signal read clips first; M still grows a little (the other signal reads rise) up to the peak
    assert 0 < first_saturated <= peak, "first saturated rate lies at or before the peak"
    assert fc.saturated[first_saturated:].all(), "every brighter rate is saturated"
    assert 35000 < m[peak] < 44000
    assert (np.diff(m[: peak - 1]) > 0).all()  # rising branch
    # falling branch, down to 0
    assert (np.diff(m[peak + 1:]) <= 0).all(), "falling branch decreases"
    assert m[-1] == 0.0, "difference reaches 0 when every read clips"
    # the same M is reached by a faint and a bright rate: double-valued
    faint = m[np.searchsorted(rate, 1000.0)]
    bright = np.flatnonzero((m < faint) & (rate > rate[peak]))
    assert bright.size, "some bright rate reads below the faint one"
    assert fc.fallback[bright].all(), "those bright rates are flagged fallback"
    assert fc.fallback[peak + 2:].all(), "past the peak is flagged fallback"
    assert not fc.fallback[: peak - 2].any(), "before the peak is not flagged fallback"
    # falling: a 1 % brighter pixel reads lower (or 0 = 0 once every read is clipped)
    brighter = fowler_reads(rate * 1.01, alpha, well, ro, 3.3, 0.0, None).difference / ro.fowler
    assert (brighter[fc.fallback] <= m[fc.fallback]).all()


def test_encode_decode_sign_convention_and_wrap():
    ro = det.readout(12)  # N = 8, ABARREL = 3
    d = np.array([-80.0, -1.0, 0.0, 7.0, 8.0, 1000.0, 8 * 44000.0 + 5])
    v = np.floor(d / 8).astype(np.int64) % 65536
    insb, sias = det.encode(d, ro, det.channel(1)), det.encode(d, ro, det.channel(3))
    assert insb.dtype == sias.dtype == np.uint16
    assert (sias == v).all(), "Si:As encodes V directly"
    assert (insb == 65535 - v).all(), "InSb encodes 65535 - V"
    # negative sums wrap; zero is 65535 for InSb
    assert sias[0] == 65536 - 10, "negative sums wrap for Si:As"
    assert insb[2] == 65535, "zero encodes as 65535 for InSb"
    for ch in (det.channel(1), det.channel(3)):
        dn = det.decode(det.encode(d, ro, ch), ro, ch)
        # within the truncation: V 2^B / N lies in (D/N - 2^B/N, D/N], plus the bias (2^B - 1) / 2N
        err = dn - ro.truncation_bias - d / ro.fowler
        assert (err <= 1e-12).all(), "decoded value at most D/N + bias"
        assert (err > -1.0).all(), "decoded value within one DN below D/N + bias"


def test_muxbleed_law_and_readout_order():
    x = math.log10(2)
    assert det.muxbleed_law(1) == pytest.approx(10 ** (3.188 - 2.497 * x + 1.201 * x**2 - 0.244 * x**3))
    n = np.arange(1, 16384)
    assert (np.diff(det.muxbleed_law(n)) < 0).all()  # the cubic in log falls monotonically
    dn = np.zeros((256, 256))
    dn[10, 250] = 2.0e4  # output 2, 62nd pixel of its row
    dn[40, 41] = 9000.0  # below threshold: no trail
    mux = det.muxbleed_image(dn)
    scale = 2.0e4 / det.MUXBLEED_REF_DN
    assert mux[10, 254] == pytest.approx(det.muxbleed_law(1) * scale)
    assert mux[11, 2] == pytest.approx(det.muxbleed_law(2) * scale)  # wraps to the next row, same output
    assert mux[12, 2] == pytest.approx(det.muxbleed_law(66) * scale)
    assert mux[10, 250] == 0, "the bright pixel itself gets no trail"
    assert not mux[:10].any(), "rows above the bright pixel get no trail"
    assert not mux[10, :250].any(), "pixels before it in its row get no trail"
    other = np.ones(256, bool)
    other[2::4] = False
    assert not mux[:, other].any()  # the other outputs see nothing
    assert det.readout_sequence(np.arange(65536).reshape(256, 256), 1)[:3].tolist() == [1, 5, 9]


def test_pulldown_and_jailbar_laws():
    dn = np.zeros((256, 256))
    dn[100, 7] = dn[150, 7] = 3.5e4
    dn[30, 9] = 2.9e4  # below the pulldown threshold
    pull = det.pulldown_image(dn, 5.0)
    assert (pull[101:, 7] == -5.0).all(), "pulldown of 5 DN below the bright pixel"
    assert not pull[:101, 7].any(), "no pulldown above the bright pixel"
    assert np.count_nonzero(pull) == 155
    assert not det.pulldown_image(dn, 0.0).any()
    jail = det.jailbar(dn, 2.0, np.array([1.0, -0.5, 0.3, 2.0]))
    assert jail.sum() == pytest.approx(0), "jailbar pattern has zero sum"
    assert jail[3] - jail[1] == pytest.approx(5.0), "jailbar amplitude between outputs 1 and 3"
    assert not det.jailbar(dn * 0.2, 2.0, np.ones(4)).any()  # no pixel above 1e4 DN: no jailbar


# -- reference files -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Channel 2's 14 reference files, written once (all four channels: the slow tests)."""
    out = tmp_path_factory.mktemp("irac_refs")
    return {name: write_atomic(model, out / name) for name, model in refs.build(channels=(2,))}


@pytest.fixture(scope="module")
def built_all(tmp_path_factory):
    out = tmp_path_factory.mktemp("irac_refs_all")
    return {name: write_atomic(model, out / name) for name, model in refs.build()}


def test_builder_makes_every_reftype_and_frame_time(built):
    check_built(built, (2,))


@pytest.mark.slow
def test_builder_makes_every_channel(built_all):
    check_built(built_all, (1, 2, 3, 4))


def check_built(built, channels):
    expected = set()
    for ch in channels:
        for reftype in REFTYPES:
            if reftype in ("dark", "firstframe"):
                expected |= {f"irac_ch{ch}_{reftype}_{t}_0001.fits" for t in ("0p6", "2", "12", "30", "100")}
            else:
                expected.add(f"irac_ch{ch}_{reftype}_0001.fits")
    assert set(built) == expected, "reference file names"
    assert len(built) == 14 * len(channels), "14 reference files per channel"
    shapes = {"mask": None, "dark": (256, 256), "firstframe": (2, 256, 256), "linearity": (1, 256, 256),
              "flat": (256, 256), "fluxconv": (1, 1)}
    for name, path in built.items():
        ref = open_product(path)
        reftype = ref.meta.reftype
        assert type(ref).__name__ == "IracReferenceModel", f"{name}: model type"
        assert name.startswith(f"irac_ch{ref.meta.irac.channel}_{reftype}_"), f"{name}: file name carries channel and reftype"
        assert (ref.meta.instrument.name, ref.meta.instrument.detector) == ("IRAC", f"CH{ref.meta.irac.channel}")
        assert ref.meta.date == ref.meta.useafter == "2003-08-25T00:00:00", f"{name}: date and useafter"
        assert ref.meta.pedigree == "SIMULATION", f"{name}: pedigree"
        assert len(ref.meta.description) <= 68
        if reftype in ("dark", "firstframe"):
            assert ref.meta.irac.frame_time in det.FRAME_TIMES
            assert ref.meta.irac.exposure_time == det.readout(ref.meta.irac.frame_time).exposure_time
        else:
            assert ref.meta.irac.frame_time is None
        if reftype == "mask":
            assert ref.dq.shape == (256, 256)
        else:
            assert ref.data.shape == shapes[reftype], name
        if reftype == "fluxconv":
            fluxconv = det.channel(ref.meta.irac.channel).fluxconv
            assert ref.meta.photometry.conversion_megajanskys == fluxconv == ref.meta.irac.fluxconv
            assert ref.meta.photometry.pixelarea_steradians == pytest.approx(det.PIXAR_SR)


def test_references_are_the_true_maps(built):
    maps = det.detector_maps(2)
    ft = det.frame_time_maps(2, 30)
    dark = open_product(built["irac_ch2_dark_30_0001.fits"]).data
    assert np.array_equal(dark, maps.dark(30))
    np.testing.assert_allclose(dark, maps.dark_current * 26.8 + ft.dark_offset, atol=1e-4)
    ff = open_product(built["irac_ch2_firstframe_30_0001.fits"]).data
    assert np.array_equal(ff[0], ft.firstframe_a), "first-frame plane a is the true map"
    assert np.array_equal(ff[1], ft.firstframe_b), "first-frame plane b is the true map"
    # b = b0 x frame-time scale (1.3 at 30 s) x (1 + 20 % pattern): frames are darker after long delays
    assert (ff[1] < 0).all(), "first-frame b negative everywhere"
    assert np.median(ff[1]) == pytest.approx(-2.0 * 1.3, rel=0.2), "first-frame b median at 30 s"
    assert np.array_equal(open_product(built["irac_ch2_linearity_0001.fits"]).data[0], maps.alpha)
    flat = open_product(built["irac_ch2_flat_0001.fits"])
    dead = (maps.dq & DQ.DEAD) != 0
    assert np.array_equal(flat.data, maps.flat), "flat data is the true flat"
    assert (flat.dq[dead] == DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE).all(), "dead pixels flagged NO_FLAT_FIELD | DO_NOT_USE"
    assert not flat.dq[~dead].any()
    assert np.array_equal(open_product(built["irac_ch2_mask_0001.fits"]).dq, maps.dq)


def test_builds_give_identical_bytes(built, tmp_path):
    check_identical(built, tmp_path, (2,))


@pytest.mark.slow
def test_all_builds_give_identical_bytes(built_all, tmp_path):
    check_identical(built_all, tmp_path, (1, 2, 3, 4))


def check_identical(built, tmp_path, channels):
    det.detector_maps.cache_clear()  # rebuild the maps from the seed, not from the cache
    det.frame_time_maps.cache_clear()
    again = {name: write_atomic(model, tmp_path / name) for name, model in refs.build(channels=channels)}
    assert set(again) == set(built)
    for name, path in built.items():
        assert again[name].read_bytes() == path.read_bytes(), name


@pytest.mark.skipif(shutil.which("fitsverify") is None, reason="fitsverify not installed (apt fitsverify)")
def test_references_pass_fitsverify(built):
    for path in list(built.values())[::7]:
        result = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
        assert "verification OK" in result.stdout, result.stdout + result.stderr


def test_plugin_registers_models_reftypes_and_context_3():
    reg = get_registry()
    assert {"IracRawModel", "IracBcdModel", "IracReferenceModel"} <= set(reg.models)
    assert reg.reftypes[("irac", "dark")].selectors == ("DETECTOR", "FRAMTIME")
    assert reg.reftypes[("irac", "firstframe")].selectors == ("DETECTOR", "FRAMTIME")
    assert all(reg.reftypes[("irac", t)].selectors == ("DETECTOR",) for t in ("mask", "linearity", "flat", "fluxconv"))
    assert [rs.context for rs in reg.refsets() if rs.name == "irac"] == [3]


def test_frame_time_references_are_selected_by_framtime(built, tmp_path, capsys):
    """A published context picks the dark of the frame's DETECTOR and FRAMTIME (matched as text, e.g. '0.6')."""
    store = Store(tmp_path / "store")
    reftypes = get_registry().reftypes
    for name in ("irac_ch2_dark_0p6_0001.fits", "irac_ch2_dark_12_0001.fits", "irac_ch2_mask_0001.fits"):
        store.add(built[name], reftypes)
    ch1 = write_atomic(refs.build_one(1, "dark", 0.6)[1], tmp_path / "irac_ch1_dark_0p6_0001.fits")
    store.add(ch1, reftypes)
    number = store.publish("irac selection test", "test", reftypes).number
    (raw, _), = simulate(tmp_path / "sim", channel=2, frame_time=0.6, noiseless=True, sources=[])
    assert calpipe(["refdata", "--refdata", str(tmp_path / "store"), "bestref", str(raw),
                    "--context", str(number)]) == 0
    out = capsys.readouterr().out
    assert "irac_ch2_dark_0p6_0001.fits" in out, "the ch2 0.6 s dark is chosen"
    assert "DETECTOR=CH2 matched 'CH2', FRAMTIME=0.6 matched '0.6'" in out, "bestref explains the DETECTOR and FRAMTIME match"
    assert "irac_ch2_mask_0001.fits" in out
