"""The MIPS simulator: headers, encoding, truth, and one sky shared by the three bands."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product
from calpipe.instruments.mips import detector as det
from calpipe.instruments.mips.simulate import simulate
from calpipe.instruments.mips.simulate24 import lsq_weights
from calpipe.instruments.mips.simulate_ge import dce_stream

from .helpers import truth


def test_24um_raw_headers_and_noiseless_encoding(tmp_path):
    files = simulate(tmp_path, 24, 2, seed=3, noiseless=True, jailbar=False)
    assert len(files) == 2, "two files"
    assert files[1].raw.name == "SPITZER_M1_23456789_0001_0001_0000_raw.fits", "file name of the second"
    raw = open_product(files[0].raw)
    assert raw.data.shape == (2, 128, 128), "raw shape"
    assert raw.data.dtype == np.uint16, "raw dtype"
    header = fits.getheader(files[0].raw)
    for key in ("AORKEY", "EXPID", "DCENUM", "EXPTYPE", "CSMPOS", "DATE-OBS", "CREATOR", "MIPSBAND",
                "NREADS", "SAMPTIME", "SLPSCALE", "RA_REF"):
        assert key in header, key
    assert header["EXPTYPE"] == "SCIENCE", "EXPTYPE"
    assert header["INSTRUME"] == "MIPS", "INSTRUME"
    assert header["DETECTOR"] == "MIPS24", "DETECTOR"
    sci = fits.getheader(files[0].raw, "SCI")
    assert sci["CTYPE1"] == "RA---TAN", "CTYPE1"
    assert sci["CRPIX1"] == 64.5, "CRPIX1"
    t = truth(files[0].truth)
    p = t["parameters"]
    # slope words decode to r' + alpha r'^2 (t_0 + t_last), up to the rounding of reads and words
    dt, n = p["sample_time"], p["nreads"]
    r = t["detector_rate"].astype(np.float64)
    alpha = det.maps24().alpha.astype(np.float64)
    expected = r + alpha * r * r * (dt + n * dt)
    slope = (raw.data[0].astype(np.float64) - det.SLOPE_ZERO) / det.SLOPE_SCALE / dt
    ok = ~t["saturated"]
    assert np.abs(slope - expected)[ok].max() < 0.2  # DN/s; sigma_read of a slope is 0.59 DN/s
    assert abs(np.median((slope - expected)[ok])) < 0.01
    # the droop is c x the array's mean rate; the sky is recorded in MJy/sr, sources in mJy
    assert np.allclose(t["droop_rate"], det.maps24().droop * t["rate0"].mean(), rtol=1e-5)
    assert t["sources"]["flux"].min() > 0, "source fluxes positive"
    assert {"ra", "dec", "flux", "x", "y"} <= set(t["sources"]), "source table columns"


def test_least_squares_weights_give_the_slope():
    times = np.arange(1, 21) * 0.5
    assert np.isclose(lsq_weights(times) @ (3.0 * times + 7.0), 3.0)
    assert np.isclose(lsq_weights(times) @ times**2, times[0] + times[-1])  # the nonlinearity's K


def test_one_sky_in_every_band(tmp_path):
    a = truth(simulate(tmp_path / "24", 24, 1, seed=11, noiseless=True)[0].truth)
    b = truth(simulate(tmp_path / "70", 70, 1, seed=11, noiseless=True)[0].truth)
    for key in ("ra", "dec", "flux24", "flux70", "flux160"):
        assert np.array_equal(a["aor_sources"][key], b["aor_sources"][key])
    # sources in both frames carry the same ids, positions and the band's own flux
    common = np.intersect1d(a["sources"]["id"], b["sources"]["id"])
    assert len(common) > 5
    i = np.searchsorted(b["sources"]["id"], common)
    assert np.allclose(b["sources"]["flux"][i], b["aor_sources"]["flux70"][common])


def test_ge_stream_stim_cycles_bracket_every_exposure(tmp_path):
    stream = dce_stream(6, 4, 4.0)
    kinds = [d.kind for d in stream]
    assert kinds[:5] == ["BKGD", "STIM", "BKGD", "SCIENCE", "SCIENCE"], "sequence starts with the calibration frames"
    assert kinds[-3:] == ["BKGD", "STIM", "BKGD"], "sequence ends with the calibration frames"
    files = simulate(tmp_path, 70, 6, seed=2, noiseless=True, stim_period=4, drift_per_hour=1.0)
    raw = open_product(files[5].raw)
    assert raw.data.shape == (24, 32, 32), "raw shape"
    assert raw.stim_ramps.shape == (6, 24, 32, 32), "stim ramps shape"
    times, dces = raw.stim_times, raw.stim_dcenum
    mid = (24 + 1) / 2 * raw.meta.mips.sample_time
    assert times[1] < mid < times[4]  # the two flashes bracket the exposure
    assert list(dces) == sorted(dces), "stim DCEs in order"
    assert raw.meta.mips.dcenum not in dces, "the science DCE is not a stim DCE"
    t = truth(files[5].truth)
    r0, drift = t["parameters"]["responsivity_r0"], t["parameters"]["drift_per_hour"]
    assert np.isclose(t["responsivity"], r0 * (1 + drift * t["parameters"]["mid_time"] / 3600))


def test_ge_cosmic_rays_bump_the_responsivity(tmp_path):
    files = simulate(tmp_path, 70, 4, seed=4, cr_rate=0.05)
    t = truth(files[-1].truth)
    hits = t["cosmic_rays"]
    assert len(hits["time"]) > 0, "some cosmic-ray hits"
    assert np.all((hits["amplitude"] >= 0.01) & (hits["amplitude"] <= 0.05)), "hit amplitudes between 0.01 and 0.05"
    y, x = hits["y"][0], hits["x"][0]
    assert t["rho_mean"][y, x] > 1.0  # raised after the hit
    assert (t["rho_start"] > 1).any()  # earlier hits still decaying


def test_sim_cli(tmp_path, capsys):
    assert calpipe(["sim", "mips", "--band", "160", "--nexp", "2", "--seed", "1", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out.split()
    assert len(out) == 4, "four outputs"
    assert out[0].endswith("_raw.fits"), "first output is a raw file"
    assert "SPITZER_M3_" in out[0], "first output is a Ge (M3) file"
    assert open_product(out[0]).data.shape[1:] == (2, 20)
    assert calpipe(["sim", "mips", "--band", "100", "-o", str(tmp_path)]) == 2
    assert "24, 70 or 160" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [{"mips_seconds": 7}, {"nexp": 0}])
def test_sim_refuses_bad_values(tmp_path, bad):
    args = {"nexp": 1, **bad}
    with pytest.raises(ValueError):
        simulate(tmp_path, 70, **args)
