"""mips24_bcd through the run API on simulated DCEs, against the simulator's truth (figures as in the README, "mips")."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.api import run
from calpipe.core.io import open_product
from calpipe.core.models.dqflags import DQ
from calpipe.core.pipeline import Overrides
from calpipe.instruments.mips import artifacts as art
from calpipe.instruments.mips import detector as det
from calpipe.instruments.mips.sky import FIELD_DEC, FIELD_RA

from .helpers import truth


def _run(raw, out, skip=()):
    run("mips24_bcd", [raw], out, overrides=Overrides(skip=list(skip)), on_error="raise")
    return open_product(out / raw.name.replace("_raw", "_bcd"))


@pytest.fixture(scope="module")
def uniform(tmp_path_factory):
    """A uniform 20 MJy/sr sky, no sources or cosmic rays: droop, jailbar, flat spots, nonlinearity on."""
    from calpipe.instruments.mips.simulate import simulate

    tmp = tmp_path_factory.mktemp("m24u")
    [sim] = simulate(tmp / "raw", 24, 1, seed=5, sources=[], sky=20.0, cosmic_rays=False, csm_positions=[1.25])
    return sim, _run(sim.raw, tmp / "out"), truth(sim.truth), tmp


def test_uniform_sky_within_one_percent(uniform):
    _, bcd, t, _ = uniform
    assert bcd.meta.bunit_data == "MJy/sr" and bcd.meta.ref_context == "0004"
    good = (bcd.dq & DQ.DO_NOT_USE) == 0
    assert good.mean() > 0.99
    ratio = np.median(bcd.data[good] / t["bcd"][good])
    assert abs(ratio - 1) < 0.01, ratio
    pull = ((bcd.data - t["bcd"]) / bcd.err)[good]
    assert 0.9 < pull.std() < 1.1
    # the scan-mirror flat spots are divided out: no dip where the spot sits
    spot = (bcd.artifacts & art.FLAT_SPOT) != 0
    assert spot.sum() > 20 and abs(np.median(bcd.data[spot & good] / t["bcd"][spot & good]) - 1) < 0.01


def test_droop_and_jailbar_residuals_below_0p3_sigma_read(uniform):
    _, bcd, t, tmp = uniform
    p = t["parameters"]
    sigma_read = p["sigma_read_slope"]  # DN/s
    good = (bcd.dq & DQ.DO_NOT_USE) == 0
    # droop: the subtracted c R against the injected one, and the array's mean level afterwards
    assert np.median(t["droop_rate"]) / sigma_read > 100  # a big effect: ~150 DN/s
    droop_resid = (bcd.meta.mips.droop - np.median(t["droop_rate"])) / sigma_read
    assert abs(droop_resid) < 0.3, droop_resid
    resid = (bcd.data - t["bcd"]) * t["flat"] / p["fluxconv"]  # back to DN/s at the detector
    assert abs(np.median(resid[good])) / sigma_read < 0.3
    # jailbar: per readout channel (column mod 4), relative to their mean
    assert np.abs(t["jailbar"]).max() / sigma_read > 1.0
    channels = np.array([np.median(resid[:, c::4][good[:, c::4]]) for c in range(4)])
    jail_resid = np.abs(channels - channels.mean()) / sigma_read
    assert jail_resid.max() < 0.3, jail_resid
    assert ((bcd.artifacts & art.JAILBAR) != 0).any()
    # without the jailbar step the bars are there
    raw = uniform[0].raw
    plain = _run(raw, tmp / "nojail", skip=["mips24_jailbar"])
    r2 = (plain.data - t["bcd"]) * t["flat"] / p["fluxconv"]
    ch2 = np.array([np.median(r2[:, c::4][good[:, c::4]]) for c in range(4)])
    assert np.abs(ch2 - ch2.mean()).max() / sigma_read > 1.0


def test_cosmic_rays_flagged_and_not_altered(tmp_path):
    from calpipe.instruments.mips.simulate import simulate

    [sim] = simulate(tmp_path / "raw", 24, 1, seed=8)
    bcd = _run(sim.raw, tmp_path / "out")
    plain = _run(sim.raw, tmp_path / "plain", skip=["mips24_cosmicray"])
    assert np.array_equal(bcd.data, plain.data) and np.array_equal(bcd.err, plain.err)  # flagged only
    t = truth(sim.truth)
    crb, px = t["cr_bcd"], t["cosmic_ray_pixels"]
    flagged = (bcd.dq & DQ.JUMP_DET) != 0
    usable = (bcd.dq & DQ.DO_NOT_USE) == 0
    total = found = 0
    for h in np.unique(px["hit"]):  # a hit counts by its brightest pixel
        mine = px["hit"] == h
        i = np.argmax(crb[px["y"][mine], px["x"][mine]])
        y, x = px["y"][mine][i], px["x"][mine][i]
        if crb[y, x] > 10 * bcd.err[y, x] and usable[y, x]:
            total += 1
            found += bool(flagged[y, x])
    assert total >= 15 and found / total >= 0.95
    # no flag where no cosmic ray fell (sources included), and the hit pixels keep the hit's charge
    assert (flagged & (crb == 0)).sum() <= 2
    hit = flagged & usable & (crb > 0)
    pull = (bcd.data - t["bcd"] - crb)[hit] / bcd.err[hit]
    assert abs(np.median(pull)) < 0.5


def test_saturated_sources_take_the_first_difference(tmp_path):
    from calpipe.instruments.mips.simulate import simulate

    ddec = 20 * 2.55 / 3600
    rows = [[FIELD_RA, FIELD_DEC, 300.0, 1, 1], [FIELD_RA, FIELD_DEC + ddec, 600.0, 1, 1],
            [FIELD_RA, FIELD_DEC - ddec, 20.0, 1, 1]]
    [sim] = simulate(tmp_path / "raw", 24, 1, seed=9, sources=rows, cosmic_rays=False)
    bcd = _run(sim.raw, tmp_path / "out")
    t = truth(sim.truth)
    sat = t["saturated"]
    assert sat.sum() >= 4
    flagged = (bcd.dq & DQ.SATURATED) != 0
    assert np.all(flagged[sat])  # 100 % of saturated pixels
    assert np.all((bcd.dq[flagged] & DQ.FLUX_ESTIMATED) != 0)
    # none flagged below 95 % of the well: the true last sample of every flagged pixel
    p = t["parameters"]
    maps = det.maps24()
    q = t["detector_rate"].astype(np.float64) * p["read_times"][-1]
    last = q * (1 + maps.alpha * q)
    assert np.all(last[flagged] >= 0.95 * maps.well[flagged])
    pull = (bcd.data - t["bcd"])[flagged] / bcd.err[flagged]
    assert np.all(np.abs(pull) < 4) and abs(np.median(pull)) < 1
    assert ((bcd.artifacts & art.DIFF_SUBSTITUTED) != 0).sum() == flagged.sum()
    assert not (bcd.dq & DQ.JUMP_DET).any()  # bright stars are not cosmic rays


def test_provenance_and_header(uniform):
    sim, bcd, _, tmp = uniform
    path = tmp / "out" / sim.raw.name.replace("_raw", "_bcd")
    header = fits.getheader(path)
    assert header["PIPELINE"] == "mips24_bcd" and header["REFCTX"] == "0004"
    assert header["R_FLAT"].startswith("mips24_flat") and header["DROOPSUB"] > 0 and header["CSMPOS"] == 1.25
    assert header["AORKEY"] == 23456789 and header["CREATOR"].startswith("mips24_bcd 1.0.0 (calpipe ")
    assert fits.getheader(path, "SCI")["CTYPE2"] == "DEC--TAN" and fits.getheader(path, "SCI")["BUNIT"] == "MJy/sr"
    steps = bcd.meta.provenance.instance["steps"]
    assert [s["name"] for s in steps][:3] == ["mips24_slope", "dq_init", "mips24_saturation"]
    assert all(s["status"] == "COMPLETE" for s in steps)
