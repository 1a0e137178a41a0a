"""Radiation hits in one frame: bright spots too sharp to be a source.

Every local maximum whose excess over the local background (median of the 16
pixels two away) exceeds ``nsigma`` sky sigma (median ERR of those pixels) is
fitted, on its 5 x 5 stamp weighted by 1/ERR², by two shapes, each integrated
over the pixels with free flux and a free sub-pixel centre (an 11 x 11 grid
within the peak pixel): the PSF (a Gaussian of the channel's FWHM) and a much
narrower spot (a Gaussian of ``hit_sigma`` px or half that: a hit's charge
footprint, or all of it in one pixel). A source fits the PSF; a hit, whose
charge lands in one or two pixels, fits the narrow spot far better. The
maximum is a hit when

    χ²(PSF) − χ²(spot) > ``delta_chi2``

(a likelihood ratio: a preference for the sharp shape at ~sqrt(delta_chi2)
sigma). Its 8 neighbours more than ``grow_nsigma`` sky sigma above the
background are the rest of its footprint. A hit no sharper than the PSF (a
Si:As hit spreads over more pixels than the PSF does) cannot be told from a
source in one frame and is left to the mosaic's outlier rejection.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..neighbours import RING8, RING16, nanmedian, stack

# PSF FWHM [px] per channel: 1.66, 1.72, 1.88, 1.98 arcsec (IRAC Instrument Handbook) on 1.22" pixels
PSF_FWHM_PX = {1: 1.66 / 1.22, 2: 1.72 / 1.22, 3: 1.88 / 1.22, 4: 1.98 / 1.22}
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
HALF = 2  # stamps are (2 HALF + 1)² pixels
GRID = 11  # sub-pixel centres per axis


@functools.cache
def templates(sigma: float, half: int = HALF, grid: int = GRID) -> np.ndarray:
    """(grid², (2 half + 1)²) unit-flux pixel-integrated Gaussians of ``sigma`` px, centres within ±0.5 px."""
    edges = np.arange(-half, half + 2) - 0.5
    erf = np.vectorize(math.erf)
    rows = []
    for cy in np.linspace(-0.5, 0.5, grid):
        fy = np.diff(erf((edges - cy) / (sigma * math.sqrt(2.0)))) / 2.0
        for cx in np.linspace(-0.5, 0.5, grid):
            fx = np.diff(erf((edges - cx) / (sigma * math.sqrt(2.0)))) / 2.0
            rows.append(np.outer(fy, fx).ravel())
    return np.array(rows)


def best_chi2(stamps: np.ndarray, weights: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Smallest χ² over ``shapes`` of stamps (n, k) fitted as flux × shape (flux >= 0), weights 1/σ²."""
    wd = weights * stamps
    swdd = (wd * stamps).sum(axis=1)
    swtd = wd @ shapes.T
    swtt = weights @ (shapes * shapes).T
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where((swtd > 0) & (swtt > 0), swtd * swtd / swtt, 0.0)
    return swdd - gain.max(axis=1)


def _stamps(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, half: int = HALF) -> np.ndarray:
    pad = np.pad(img, half, constant_values=np.nan)
    d = np.arange(-half, half + 1)
    yy = (ys[:, None, None] + half + d[None, :, None]).reshape(len(ys), -1, 1)
    xx = (xs[:, None, None] + half + d[None, None, :]).reshape(len(xs), 1, -1)
    return pad[yy, xx].reshape(len(ys), -1)


def find_hits(data: np.ndarray, err: np.ndarray, usable: np.ndarray, psf_sigma: float,
              nsigma: float = 5.0, delta_chi2: float = 16.0, hit_sigma: float = 0.4,
              grow_nsigma: float = 3.0, excluded: np.ndarray | None = None) -> np.ndarray:
    """Bool map of radiation-hit pixels (see module docstring)."""
    img = np.where(usable & np.isfinite(data), data, np.nan).astype(np.float64)
    var = np.where(np.isfinite(err) & (err > 0), err.astype(np.float64) ** 2, np.nan)
    near = stack(img, RING8)
    with np.errstate(invalid="ignore"):
        peak = np.isfinite(img) & (img >= np.nanmax(np.where(np.isfinite(near), near, -np.inf), axis=0))
    # Background and sky of the local maxima only: about a ninth of the pixels, and the only ones used.
    ys, xs = np.nonzero(peak)
    bkg = nanmedian(stack(img, RING16)[:, ys, xs])
    sky = np.sqrt(nanmedian(stack(var, RING16)[:, ys, xs]))
    with np.errstate(invalid="ignore"):
        candidate = img[ys, xs] - bkg > nsigma * sky
    if excluded is not None:
        candidate &= ~excluded[ys, xs]
    ys, xs, bkg, sky = ys[candidate], xs[candidate], bkg[candidate], sky[candidate]
    hits = np.zeros(img.shape, bool)
    if ys.size == 0:
        return hits
    stamps = _stamps(img, ys, xs) - bkg[:, None]
    weights = 1.0 / _stamps(var, ys, xs)
    bad = ~np.isfinite(stamps) | ~np.isfinite(weights)
    stamps[bad], weights[bad] = 0.0, 0.0
    spots = np.concatenate([templates(round(hit_sigma, 4)), templates(round(hit_sigma / 2, 4))])
    sharper = (best_chi2(stamps, weights, templates(round(psf_sigma, 4)))
               - best_chi2(stamps, weights, spots)) > delta_chi2
    ys, xs, bkg, sky = ys[sharper], xs[sharper], bkg[sharper], sky[sharper]
    hits[ys, xs] = True
    ny, nx = img.shape
    for dy, dx in RING8:
        y, x = ys + dy, xs + dx
        inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
        y, x = y[inside], x[inside]
        with np.errstate(invalid="ignore"):
            part = img[y, x] - bkg[inside] > grow_nsigma * sky[inside]
        hits[y[part], x[part]] = True
    if excluded is not None:
        hits &= ~excluded
    return hits & usable
