"""mips70_bcd and mips160_bcd on simulated AORs, against the simulator's truth."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.api import run
from calpipe.core.errors import InputDataError
from calpipe.core.io import open_product
from calpipe.core.models.dqflags import DQ
from calpipe.core.pipeline import Overrides
from calpipe.instruments.mips import artifacts as art
from calpipe.instruments.mips.simulate import simulate

from .helpers import truth


def _run(pipeline, files, out, skip=()):
    run(pipeline, [f.raw for f in files], out, overrides=Overrides(skip=list(skip)), on_error="raise")
    return [open_product(out / f.raw.name.replace("_raw", "_bcd")) for f in files]


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """8 exposures of 3 MIPS s at 70 um while R(t) drifts by 300 %/hour (~9 % over the AOR), no cosmic rays."""
    tmp = tmp_path_factory.mktemp("g70drift")
    files = simulate(tmp / "raw", 70, 8, seed=6, drift_per_hour=3.0, cosmic_rays=False)
    return files, _run("mips70_bcd", files, tmp / "out"), [truth(f.truth) for f in files]


def test_constant_within_two_percent_under_responsivity_drift(drifting):
    _, bcds, truths = drifting
    r = np.array([t["responsivity"] for t in truths])
    assert r.max() / r.min() - 1 > 0.05  # the drift is there
    ratios = []
    for bcd, t in zip(bcds, truths, strict=True):
        assert bcd.meta.bunit_data == "MJy/sr" and bcd.meta.ref_context == "0004"
        good = (bcd.dq & DQ.DO_NOT_USE) == 0
        ratios.append(np.median(bcd.data[good] / t["bcd"][good]))
        pull = ((bcd.data - t["bcd"]) / bcd.err)[good]
        assert 0.85 < pull.std() < 1.15
    ratios = np.array(ratios)
    assert np.abs(ratios - 1).max() < 0.02, ratios
    # the slopes themselves follow R(t): the stim calibration took it out
    resp = np.array([b.meta.mips.stim_response for b in bcds])
    assert np.allclose(resp / resp[0], r / r[0], atol=0.005)


def test_stim_calibration_traced_in_header_and_provenance(drifting):
    files, bcds, truths = drifting
    raw = open_product(files[5].raw)
    bcd, t = bcds[5], truths[5]
    m = bcd.meta.mips
    assert (m.stim_dce1, m.stim_dce2) == (int(raw.stim_dcenum[1]), int(raw.stim_dcenum[4]))
    assert (m.stim_time1, m.stim_time2) == (float(raw.stim_times[1]), float(raw.stim_times[4]))
    assert m.stim_time1 < 0 < m.stim_time2
    header = fits.getheader(files[5].raw.parent.parent / "out" / files[5].raw.name.replace("_raw", "_bcd"))
    for key in ("STIMRESP", "STIMTIM1", "STIMTIM2", "STIMDCE1", "STIMDCE2"):
        assert key in header
    # the response applied is G R(t) x stim brightness x pattern, per pixel (RESPONSE extension)
    expected = t["gain_map"] * t["responsivity"] * t["parameters"]["stim_miu"] * t["stim_pattern"]
    good = (bcd.dq & DQ.DO_NOT_USE) == 0
    assert abs(np.median(bcd.responsivity[good] / expected[good]) - 1) < 0.005
    assert np.isclose(m.stim_response, np.median(bcd.responsivity[good]), rtol=1e-6)
    assert not bcd.hasattr("stim_ramps") or bcd.stim_ramps is None  # measured, then dropped
    [step] = [s for s in bcd.meta.provenance.instance["steps"] if s["name"] == "mips_stim_response"]
    assert step["status"] == "COMPLETE" and step["params"]["min_reads"] == 4
    assert {r["reftype"] for r in step["refs"]} == {"saturation", "superbias", "linearity", "gain", "readnoise"}


def _hit_pulls(files, bcds):
    detected, missed = [], []
    for f, bcd in zip(files, bcds, strict=True):
        t = truth(f.truth)
        hits = t["cosmic_rays"]
        count = np.zeros(t["bcd"].shape, int)
        np.add.at(count, (hits["y"].astype(int), hits["x"].astype(int)), 1)
        quiet = (np.abs(t["rho_start"] - 1) < 1e-4) & (np.abs(t["rho_stim"][0] - 1) < 1e-4)
        single = (count == 1) & quiet & ((bcd.dq & DQ.DO_NOT_USE) == 0)
        pull = (bcd.data - t["bcd"]) / bcd.err
        jumped = (bcd.dq & DQ.JUMP_DET) != 0
        detected += list(pull[single & jumped])
        missed += list(pull[single & ~jumped])
    return np.array(detected), np.array(missed)


def test_cosmic_rays_removed_not_biased_high(tmp_path):
    # many hits (one per pixel per 20 s), no responsivity bump: the jump removal alone
    files = simulate(tmp_path / "raw", 70, 4, seed=5, cr_rate=0.05, bump=(0.0, 0.0), mips_seconds=10)
    bcds = _run("mips70_bcd", files, tmp_path / "out")
    detected, missed = _hit_pulls(files, bcds)
    assert len(detected) > 500 and len(detected) / (len(detected) + len(missed)) > 0.9
    assert abs(detected.mean()) < 0.1 and 0.9 < detected.std() < 1.15, (detected.mean(), detected.std())
    assert all((b.artifacts[(b.dq & DQ.JUMP_DET) != 0] & art.RESP_BUMP).all() for b in bcds)
    # without jump detection the same pixels are far too bright
    naive = _run("mips70_bcd", files[:1], tmp_path / "naive", skip=["jump"])
    t = truth(files[0].truth)
    hits = t["cosmic_rays"]
    y, x = hits["y"].astype(int), hits["x"].astype(int)
    assert np.median(((naive[0].data - t["bcd"]) / naive[0].err)[y, x]) > 3


@pytest.mark.slow
def test_cosmic_ray_bump_is_a_small_known_residual(tmp_path):
    """With the responsivity bump (1-5 % for ~100 s after each hit) the segments after a hit read high."""
    files = simulate(tmp_path / "raw", 70, 8, seed=7, mips_seconds=10)
    bcds = _run("mips70_bcd", files, tmp_path / "out")
    detected, _ = _hit_pulls(files, bcds)
    assert len(detected) > 100
    assert -0.1 < detected.mean() < 0.5 and abs(np.median(detected)) < 0.5


def test_160um_end_to_end_through_the_strun_command(tmp_path):
    files = simulate(tmp_path / "raw", 160, 4, seed=3, cosmic_rays=False, sources=[])
    done = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "mips160_bcd",
                           *[str(f.raw) for f in files], "-o", str(tmp_path / "out"), "-q"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for f in files:
        bcd = open_product(tmp_path / "out" / f.raw.name.replace("_raw", "_bcd"))
        t = truth(f.truth)
        good = (bcd.dq & DQ.DO_NOT_USE) == 0
        assert bcd.data.shape == (2, 20) and abs(np.median(bcd.data[good] / t["bcd"][good]) - 1) < 0.02


def test_wrong_array_is_refused_with_exit_3(tmp_path):
    [s24] = simulate(tmp_path / "r24", 24, 1, seed=1, noiseless=True)
    [s70] = simulate(tmp_path / "r70", 70, 1, seed=1, noiseless=True)
    with pytest.raises(InputDataError, match="MIPSBAND = 24") as refused:
        run("mips70_bcd", [s24.raw], tmp_path / "out", on_error="raise")
    assert "mips24_bcd" in str(refused.value)
    with pytest.raises(InputDataError, match="mips70_bcd or mips160_bcd"):
        run("mips24_bcd", [s70.raw], tmp_path / "out", on_error="raise")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
