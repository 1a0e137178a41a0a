"""band_merge algorithm: hand-made matching cases and a simulated 24 + 70 µm pair against truth."""

import numpy as np
import pytest
from astropy.table import Table
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from calpipe.steps.band_merge.algorithm import (
    FLAG_NO_COVERAGE,
    FLAG_UPPER_LIMIT,
    band_merge,
    forced_photometry,
    match_positions,
    upper_limit,
)
from calpipe.steps.source_catalog.algorithm import source_catalog
from tests.steps.test_source_catalog import ideal_flux_sigma, render

ARCSEC = 1 / 3600
#: Registration floor [arcsec] for the merge: at S/N ≳ 100 the PSF-fit position errors (≲ 0.05")
#: are below what blended neighbours shift the positions by in this field.
POS_FLOOR = 0.5


def test_upper_limit_by_hand():
    assert upper_limit([5.0, -2.0, 0.0], [1.0, 2.0, 0.5]).tolist() == [8.0, 6.0, 1.5]
    assert upper_limit([5.0], [1.0], nsigma=5.0).tolist() == [10.0]


def test_match_is_one_to_one_best_chi2_first_and_cut_at_9():
    # prior sources 0 and 1 both sit near other source 0; source 1 is closer and takes it
    dec0 = 10.0
    ra_scale = 1 / np.cos(np.radians(dec0))
    ra1 = np.array([150.0, 150.0, 150.0 + 100 * ARCSEC * ra_scale])
    dec1 = np.array([dec0, dec0 + 2.0 * ARCSEC, dec0])
    ra2 = np.array([150.0, 150.0 + 100 * ARCSEC * ra_scale])
    dec2 = np.array([dec0 + 2.5 * ARCSEC, dec0 + 2.99 * ARCSEC])  # 2.99": χ² = 2.99²/1 < 9
    i1, i2 = match_positions(ra1, dec1, np.sqrt(0.5), ra2, dec2, np.sqrt(0.5))
    # χ² 0.25 then 8.94
    assert i1.tolist() == [1, 2], "band-1 indices"
    assert i2.tolist() == [0, 1], "band-2 indices"
    # at 3.01" the second pair has χ² = 9.06 and no longer matches
    i1, i2 = match_positions(ra1, dec1, np.sqrt(0.5), ra2, dec2 + np.array([0, 0.02 * ARCSEC]), np.sqrt(0.5))
    assert i1.tolist() == [1], "band-1 indices"
    assert i2.tolist() == [0], "band-2 indices"
    # without source 1 competing, source 0 (2.5" away, χ² = 6.25) gets it
    i1, i2 = match_positions(ra1[:1], dec1[:1], 1.0, ra2, dec2, 0.0)
    assert i1.tolist() == [0], "band-1 indices"
    assert i2.tolist() == [0], "band-2 indices"
    assert [a.size for a in match_positions([], [], 1.0, ra2, dec2, 1.0)] == [0, 0]


def test_forced_photometry_recovers_a_known_flux_next_to_a_detected_source():
    data = render((60, 60), [30.0, 34.0], [30.0, 30.0], [200.0, 2000.0], 4.5) + 3.0
    err = np.ones_like(data)
    f, s = forced_photometry(data, err, [30.0], [30.0], fwhm_px=4.5, known_x=[34.0], known_y=[30.0])
    assert f[0] == pytest.approx(200.0, rel=1e-3)
    # flux-only fit: σ = 1/√ΣP² on unit noise, within the joint fit's inflation and background term
    assert ideal_flux_sigma(err, [30.0], [30.0], 4.5)[0] < s[0] < 2.0 * ideal_flux_sigma(err, [30.0], [30.0], 4.5)[0]
    alone, _ = forced_photometry(data, err, [30.0], [30.0], fwhm_px=4.5)
    assert alone[0] > 400  # without the neighbour in the fit, its light goes to the forced source
    off, off_err = forced_photometry(data, err, [-20.0], [30.0], fwhm_px=4.5)
    assert np.isnan(off[0]), "offset NaN"
    assert np.isnan(off_err[0]), "offset error NaN"


def tan_wcs(scale_arcsec, shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    w.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return w


def simulate_pair(seed=3, n=200):
    """Same sky at 24 µm (2.5"/px, FWHM 6") and 70 µm (4"/px, FWHM 18"), unit noise."""
    rng = np.random.default_rng(seed)
    scale24, scale70, fwhm24, fwhm70 = 2.5, 4.0, 6.0 / 2.5, 18.0 / 4.0
    shape24, shape70 = (300, 300), (190, 190)
    w24, w70 = tan_wcs(scale24, shape24), tan_wcs(scale70, shape70)
    x24, y24 = rng.uniform(6, 294, n), rng.uniform(6, 294, n)
    ra, dec = w24.pixel_to_world_values(x24, y24)
    x70, y70 = w70.world_to_pixel_values(ra, dec)
    sig24 = ideal_flux_sigma(np.ones(shape24), x24, y24, fwhm24)
    f24 = sig24 * np.exp(rng.uniform(np.log(4), np.log(400), n))
    # 70/24 flux ratio scattered over a factor ~10 about 0.4: many 24 µm sources go undetected at 70 µm
    f70 = 0.4 * f24 * np.exp(rng.normal(0, 1.0, n))
    imgs = []
    for shape, x, y, f, fw in ((shape24, x24, y24, f24, fwhm24), (shape70, x70, y70, f70, fwhm70)):
        xx = np.mgrid[0:shape[0], 0:shape[1]][1]
        imgs.append(5.0 + 0.002 * xx + render(shape, x, y, f, fw) + rng.standard_normal(shape))
    truth = Table({"ra": ra, "dec": dec, "x24": x24, "y24": y24, "x70": x70, "y70": y70, "f24": f24, "f70": f70})
    return imgs, (w24, w70), (scale24, scale70), (fwhm24, fwhm70), truth


def nearest_truth(cat, tx, ty, radius):
    d, j = cKDTree(np.column_stack([tx, ty])).query(np.column_stack([cat["x"], cat["y"]]),
                                                     distance_upper_bound=radius)
    return np.where(np.isfinite(d), j, -1)


@pytest.fixture(scope="module")
def merged():
    (d24, d70), (w24, w70), (s24, s70), (fw24, fw70), truth = simulate_pair()
    cats = []
    for data, w, fw in ((d24, w24, fw24), (d70, w70, fw70)):
        cat = source_catalog(data, np.ones_like(data), fwhm_px=fw)
        cat["ra"], cat["dec"] = w.pixel_to_world_values(cat["x"], cat["y"])
        cats.append(cat)
    c24, c70 = cats
    out = band_merge(c24, c70, d70, np.ones_like(d70), w70.world_to_pixel_values,
                     prior_pixel_scale=s24, other_pixel_scale=s70, pos_floor_arcsec=POS_FLOOR)
    t24 = nearest_truth(c24, truth["x24"], truth["y24"], 0.5 * fw24)
    t70 = nearest_truth(c70, truth["x70"], truth["y70"], 0.5 * fw70)
    return out, c24, c70, t24, t70, truth, fw70


def confused(truth, fwhm70):
    """True sources with another within 1.2 70 µm FWHM bringing > 10 % of their 70 µm flux.

    (Within 1.0 FWHM, one more source counts as unconfused: at 1.03 FWHM from two
    neighbours each brighter than itself, whose fits take its light: its forced flux
    is then 76 ± 8 for a true 114, above its limit of 100.)
    """
    xy = np.column_stack([truth["x70"], truth["y70"]])
    out = np.zeros(len(truth), bool)
    for i, near in enumerate(cKDTree(xy).query_ball_point(xy, 1.2 * fwhm70)):
        out[i] = any(j != i and truth["f70"][j] > 0.1 * truth["f70"][i] for j in near)
    return out


def test_true_pairs_are_matched_and_false_matches_are_rare(merged):
    out, c24, c70, t24, t70, truth, fw70 = merged
    assert np.array_equal(out["id_24"], c24["id"])
    row_of_24 = {t: k for k, t in enumerate(t24) if t >= 0}
    # a 70 µm detection of two blended sources has no one true counterpart
    blend = confused(truth, fw70)
    true_pairs = [(row_of_24[t], c70["id"][k]) for k, t in enumerate(t70)
                  if t >= 0 and t in row_of_24 and not blend[t] and c70["flags"][k] == 0]
    assert len(true_pairs) > 40
    found = np.mean([out["id_70"][r] == i70 for r, i70 in true_pairs])
    assert found >= 0.98, found
    # every true pair, blended 70 µm detections included (their positional errors are inflated)
    every = [(row_of_24[t], c70["id"][k]) for k, t in enumerate(t70) if t >= 0 and t in row_of_24]
    assert len(every) > 100, "more than 100 true pairs"
    assert np.mean([out["id_70"][r] == i70 for r, i70 in every]) >= 0.98, "at least 98 % matched to the true source"
    matched = np.nonzero(out["id_70"] >= 0)[0]
    truth_of_70 = dict(zip(c70["id"], t70, strict=True))
    false = np.mean([t24[r] < 0 or truth_of_70[out["id_70"][r]] != t24[r] for r in matched])
    assert false < 0.01, false
    assert np.all(out["chi2"][matched] < 9), "matched chi2 below 9"
    assert np.all(np.isnan(out["chi2"][out["id_70"] < 0])), "unmatched chi2 NaN"


def test_upper_limits_hold_the_true_flux(merged):
    out, _, _, t24, _, truth, fw70 = merged
    limits = (out["flags"] & FLAG_UPPER_LIMIT) != 0
    assert np.array_equal(limits, out["id_70"] < 0)
    # forced fluxes of confused sources share their light with the neighbour's fitted flux
    real = limits & (t24 >= 0) & ~confused(truth, fw70)[np.maximum(t24, 0)]
    assert real.sum() > 40
    assert np.mean(truth["f70"][t24[real]] < out["flux_70_ulim"][real]) >= 0.99
    # the forced fluxes are measurements, not limits: honest pulls
    pull = (out["flux_70"][real] - truth["f70"][t24[real]]) / out["flux_70_err"][real]
    assert 0.8 < np.std(pull) < 1.25, "pull std near 1"
    assert abs(np.median(pull)) < 0.3, "pull median near 0"
    assert np.all(out["flux_70_ulim"][real] == upper_limit(out["flux_70"][real], out["flux_70_err"][real]))
    assert np.all(np.isnan(out["flux_70_ulim"][~limits]))


def test_no_70um_coverage_gives_no_limit():
    w = tan_wcs(2.5, (50, 50))
    prior = Table({"id": [1], "ra": [150.0], "dec": [2.0], "x": [25.0], "y": [25.0], "x_err": [0.1],
                   "y_err": [0.1], "flux_psf": [10.0], "flux_psf_err": [1.0]})
    other = Table({c: np.zeros(0) for c in prior.colnames}, meta={"fwhm_px": 4.5})
    data = np.full((40, 40), np.nan)
    out = band_merge(prior, other, data, np.ones_like(data), w.world_to_pixel_values,
                     prior_pixel_scale=2.5, other_pixel_scale=4.0)
    assert out["flags"].tolist() == [FLAG_NO_COVERAGE], "flagged no coverage"
    assert out["id_70"].tolist() == [-1], "no match id"
    assert np.isnan(out["flux_70_ulim"][0])
