"""irac_bcd through the run API on simulated frames, against the simulator's truth (figures as in the README, "irac")."""

from __future__ import annotations

import asdf
import numpy as np
import pytest

from calpipe.core.api import run
from calpipe.core.io import open_product
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts
from calpipe.instruments.irac.simulate import simulate


def _truth(path):
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        return {k: af.tree[k] for k in ("bcd", "radiation_pixels", "saturated", "parameters")}


@pytest.mark.parametrize("channel", [1, 3])
def test_uniform_sky_within_one_percent(tmp_path, channel):
    [sim] = simulate(tmp_path / "raw", channel=channel, frame_time=12.0, seed=4, sources=[], sky=5.0,
                     cosmic_rays=False)
    run("irac_bcd", [sim.raw], tmp_path / "out", on_error="raise")
    bcd = open_product(tmp_path / "out" / sim.raw.name.replace("_raw", "_bcd"))
    truth = _truth(sim.truth)
    assert bcd.meta.bunit_data == "MJy/sr" and bcd.meta.ref_context == "0003"
    good = (bcd.dq & DQ.DO_NOT_USE) == 0
    assert good.mean() > 0.97
    assert abs(np.median(bcd.data[good] / truth["bcd"][good]) - 1) < 0.01
    pull = (bcd.data - truth["bcd"])[good] / bcd.err[good]
    assert 0.85 < pull.std() < 1.2


def test_radiation_hits_are_flagged_and_sources_are_not(tmp_path):
    [sim] = simulate(tmp_path / "raw", channel=1, frame_time=100.0, seed=8)
    run("irac_bcd", [sim.raw], tmp_path / "out", on_error="raise")
    bcd = open_product(tmp_path / "out" / sim.raw.name.replace("_raw", "_bcd"))
    truth = _truth(sim.truth)
    pixels = truth["radiation_pixels"]
    sigma = np.median(bcd.err)  # MJy/sr, sky-noise dominated
    to_mjysr = bcd.meta.irac.fluxconv / bcd.meta.irac.exposure_time  # per DN per frame
    hit, y, x, dn = (np.asarray(pixels[k]) for k in ("hit", "y", "x", "dn"))
    flagged = (bcd.artifacts & artifacts.RADHIT) != 0
    usable = (bcd.dq & DQ.DO_NOT_USE) == 0
    found, total = 0, 0
    for h in np.unique(hit):  # a hit counts by its brightest pixel: "above 10 sigma" is a pixel value
        mine = hit == h
        peak = np.argmax(dn[mine])
        py, px = int(y[mine][peak]), int(x[mine][peak])
        if dn[mine][peak] * to_mjysr > 10 * sigma and usable[py, px]:
            total += 1
            found += bool(flagged[max(py - 1, 0):py + 2, max(px - 1, 0):px + 2].any())
    assert total >= 20
    assert found / total >= 0.9


def test_creator_names_the_pipeline_release_that_made_the_bcd(tmp_path):
    from astropy.io import fits

    [sim] = simulate(tmp_path / "raw", channel=1, frame_time=12.0, seed=4, sources=[], cosmic_rays=False)
    assert fits.getheader(sim.raw)["CREATOR"] == ""
    run("irac_bcd@1.1.0", [sim.raw], tmp_path / "out", on_error="raise")
    header = fits.getheader(tmp_path / "out" / sim.raw.name.replace("_raw", "_bcd"))
    assert header["CREATOR"].startswith("irac_bcd 1.1.0 (calpipe ")
