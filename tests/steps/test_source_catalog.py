"""source_catalog algorithm against simulated truth (Level 3 point-source acceptance figures)."""

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.special import erf

from calpipe.steps.source_catalog.algorithm import (
    BLEND_FWHM,
    COLUMNS,
    FLAG_BLENDED,
    FLAG_EDGE,
    find_sources,
    measure_fwhm,
    photometer,
    source_catalog,
)

FWHM = 2.6


def render(shape, x, y, flux, fwhm):
    """Gaussian point sources integrated over pixels (erf), 0-based pixel centres."""
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    img = np.zeros(shape)
    half = int(np.ceil(6 * sigma))
    for xi, yi, fi in zip(x, y, flux, strict=True):
        x0, y0 = round(xi), round(yi)
        xs = np.arange(max(x0 - half, 0), min(x0 + half + 1, shape[1]))
        ys = np.arange(max(y0 - half, 0), min(y0 + half + 1, shape[0]))
        fx = 0.5 * (erf((xs + 0.5 - xi) / (np.sqrt(2) * sigma)) - erf((xs - 0.5 - xi) / (np.sqrt(2) * sigma)))
        fy = 0.5 * (erf((ys + 0.5 - yi) / (np.sqrt(2) * sigma)) - erf((ys - 0.5 - yi) / (np.sqrt(2) * sigma)))
        img[np.ix_(ys, xs)] += fi * np.outer(fy, fx)
    return img


def ideal_flux_sigma(err, x, y, fwhm):
    """1σ of the flux of a PSF fit with the PSF and position known: 1/√(Σ P²/σ²)."""
    out = np.empty(len(x))
    for k, (xi, yi) in enumerate(zip(x, y, strict=True)):
        p = render(err.shape, [xi], [yi], [1.0], fwhm)
        out[k] = 1.0 / np.sqrt(np.nansum(p**2 / err**2))
    return out


def simulate(seed=1, shape=(300, 300), n=160, fwhm=FWHM, snr_range=(3.0, 1000.0), nan_block=True):
    """Mosaic with a sloped+wavy background, err varying by 2× across it, and a NaN corner."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    err = 0.8 + 0.8 * xx / nx  # coverage falls off to the right
    bkg = 20.0 + 0.005 * xx - 0.003 * yy + 0.5 * np.sin(2 * np.pi * yy / ny)
    x = rng.uniform(3, nx - 4, n)
    y = rng.uniform(3, ny - 4, n)
    sig = ideal_flux_sigma(err, x, y, fwhm)
    flux = sig * np.exp(rng.uniform(*np.log(snr_range), n))
    data = bkg + render(shape, x, y, flux, fwhm) + err * rng.standard_normal(shape)
    if nan_block:
        data[:40, :60] = np.nan
        err[:40, :60] = np.nan
        covered = ~((y < 40) & (x < 60))
        x, y, flux, sig = x[covered], y[covered], flux[covered], sig[covered]
    return data, err, {"x": x, "y": y, "flux": flux, "snr": flux / sig}


def match(cat, truth, radius=1.5):
    """Nearest true source within ``radius`` px of each detection (−1 if none)."""
    d, j = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([cat["x"], cat["y"]]), distance_upper_bound=radius)
    return np.where(np.isfinite(d), j, -1)


@pytest.fixture(scope="module")
def field():
    data, err, truth = simulate()
    return data, err, truth, source_catalog(data, err, fwhm_guess_px=2.0)


def test_fwhm_is_measured_from_the_image(field):
    data, err, _, cat = field
    assert cat.meta["fwhm_measured"]
    assert cat.meta["fwhm_px"] == pytest.approx(FWHM, rel=0.02)
    assert measure_fwhm(data, err, guess_px=3.5) == pytest.approx(FWHM, rel=0.02)


def test_fluxes_agree_with_truth_above_snr_20(field):
    _, _, truth, cat = field
    j = match(cat, truth)
    bright = (j >= 0) & (truth["snr"][np.maximum(j, 0)] > 20)
    assert bright.sum() > 80
    for col in ("flux_psf", "flux_aper"):
        ratio = np.median(cat[col][bright] / truth["flux"][j[bright]])
        assert abs(ratio - 1) < 0.02, (col, ratio)
    # Gaussian PSF: the curve of growth of the bright sources agrees with the model's
    assert cat.meta["n_calibrators"] >= 5
    assert cat.meta["aper_corr_from"] == "model", "aperture correction from the model"
    assert cat.meta["psf_flux_corr_from"] == "model", "PSF flux correction from the model"


def isolated(cat, truth, j, dist=3 * FWHM):
    """Matched, unflagged detections with no other true source within ``dist``: what pulls can test."""
    d, _ = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([truth["x"], truth["y"]]), k=2)
    return (j >= 0) & (cat["flags"] == 0) & (d[np.maximum(j, 0), 1] > dist)


def test_flux_uncertainties_are_honest(field):
    _, _, truth, cat = field
    j = match(cat, truth)
    clean = isolated(cat, truth, j)
    assert clean.sum() > 80
    for col in ("flux_psf", "flux_aper"):
        pull = (cat[col][clean] - truth["flux"][j[clean]]) / cat[col + "_err"][clean]
        assert 0.9 < np.std(pull) < 1.2, (col, np.std(pull))


def test_positions_within_a_tenth_of_a_pixel(field):
    _, _, truth, cat = field
    j = match(cat, truth)
    bright = (j >= 0) & (truth["snr"][np.maximum(j, 0)] > 20)
    dx, dy = cat["x"][bright] - truth["x"][j[bright]], cat["y"][bright] - truth["y"][j[bright]]
    assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.1
    clean = isolated(cat, truth, j)
    pull = np.concatenate([(cat["x"] - truth["x"][j])[clean] / cat["x_err"][clean],
                           (cat["y"] - truth["y"][j])[clean] / cat["y_err"][clean]])
    assert 0.9 < np.std(pull) < 1.2


def test_completeness_and_reliability_at_5_sigma(field):
    _, _, truth, cat = field
    j = match(cat, truth)
    found = np.zeros(len(truth["x"]), bool)
    found[j[j >= 0]] = True
    above = truth["snr"] >= 5
    assert found[above].mean() >= 0.90
    assert (j >= 0).mean() >= 0.95
    assert np.all(cat["snr"][:-1] >= cat["snr"][1:])  # sorted by S/N
    assert cat["id"].tolist() == list(range(1, len(cat) + 1))


def test_blends_and_coverage_edges_are_flagged(field):
    _, _, _, cat = field
    xy = np.column_stack([cat["x"], cat["y"]])
    d, _ = cKDTree(xy).query(xy, k=2)
    blended = d[:, 1] < BLEND_FWHM * cat.meta["fwhm_px"]
    assert np.array_equal(blended, (cat["flags"] & FLAG_BLENDED) != 0)
    r = cat.meta["aper_radius_px"]
    # the aperture reaches the NaN block (y < 40, x < 60) or the image edge
    dx, dy = np.maximum(cat["x"] - 59.5, 0), np.maximum(cat["y"] - 39.5, 0)
    touches = (np.hypot(dx, dy) < r - 0.5) | (np.minimum(cat["x"], cat["y"]) < r - 0.5) \
        | (np.maximum(cat["x"], cat["y"]) > 299.5 - r + 0.5)
    clear = (np.hypot(dx, dy) > r + 1) & (np.minimum(cat["x"], cat["y"]) > r + 1) \
        & (np.maximum(cat["x"], cat["y"]) < 298.5 - r)
    assert np.all(cat["flags"][touches] & FLAG_EDGE)
    assert not np.any(cat["flags"][clear] & FLAG_EDGE)


def test_a_wrong_fwhm_is_calibrated_away_by_the_curve_of_growth(field):
    data, err, truth, _ = field
    cat = source_catalog(data, err, fwhm_px=0.9 * FWHM)
    assert cat.meta["psf_flux_corr_from"] == "image"
    assert cat.meta["psf_flux_corr"] > 1.03  # a too-narrow Gaussian underestimates the flux
    j = match(cat, truth)
    bright = (j >= 0) & (truth["snr"][np.maximum(j, 0)] > 20)
    assert abs(np.median(cat["flux_psf"][bright] / truth["flux"][j[bright]]) - 1) < 0.02


def test_single_noiseless_source_exact():
    x0, y0, f0 = 30.3, 27.8, 1000.0
    data = render((60, 60), [x0], [y0], [f0], FWHM)
    err = np.ones_like(data)
    cat = source_catalog(data, err, fwhm_px=FWHM)
    assert len(cat) == 1
    row = cat[0]
    assert row["x"] == pytest.approx(x0, abs=1e-4), "x"
    assert row["y"] == pytest.approx(y0, abs=1e-4), "y"
    assert row["flux_psf"] == pytest.approx(f0, rel=1e-4)
    # model aperture correction averaged over sub-pixel phases: 0.1 % off at any one phase
    assert row["flux_aper"] == pytest.approx(f0, rel=2e-3)
    assert cat.meta["n_calibrators"] == 1, "one calibrator"
    assert cat.meta["aper_corr_from"] == "model", "aperture correction from the model"
    # ideal PSF-fit σ on unit noise: 1/√ΣP²
    assert row["flux_psf_err"] == pytest.approx(ideal_flux_sigma(err, [x0], [y0], FWHM)[0], rel=0.02)


def test_photometer_at_given_positions():
    data = render((50, 50), [20.0, 35.4], [25.0, 10.2], [500.0, 300.0], FWHM) + 7.0
    cat = photometer(data, np.ones_like(data), [20, 35], [25, 10], fwhm_px=FWHM)
    assert cat["flux_psf"].tolist() == pytest.approx([500.0, 300.0], rel=1e-3)
    assert cat["x"].tolist() == pytest.approx([20.0, 35.4], abs=1e-3)


def test_pure_noise_gives_an_empty_table_with_the_columns():
    rng = np.random.default_rng(5)
    data = 3.0 + rng.standard_normal((120, 120))
    cat = source_catalog(data, np.ones_like(data), fwhm_px=FWHM)
    assert len(cat) == 0, "no rows"
    assert tuple(cat.colnames) == COLUMNS, "columns"
    assert find_sources(data, np.ones_like(data), fwhm_px=FWHM)[0].size == 0
    with pytest.warns(UserWarning, match="FWHM left at"):
        empty = source_catalog(data, np.ones_like(data))
    assert len(empty) == 0, "no rows"
    assert empty.meta["fwhm_px"] == 2.0, "FWHM recorded"


def test_nan_pixels_are_masked_not_propagated():
    data = render((60, 60), [30.0, 12.0], [30.0, 12.0], [800.0, 800.0], FWHM)
    data[10:14, 10:13] = np.nan  # on the second source
    cat = source_catalog(data, np.ones_like(data), fwhm_px=FWHM)
    assert np.all(np.isfinite(cat["flux_psf"]))
    central = np.argmin(np.hypot(cat["x"] - 30, cat["y"] - 30))
    assert cat["flux_psf"][central] == pytest.approx(800.0, rel=1e-3)
    assert cat["flags"][central] == 0
    assert np.all(cat["flags"][np.arange(len(cat)) != central] & FLAG_EDGE)


def test_shape_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(10, 12\).*\(10, 10\)"):
        source_catalog(np.zeros((10, 10)), np.ones((10, 12)))
