"""An instrument's optical PSF sampled onto a mosaic grid: the PRF a mosaic's point source has.

A point source in a drizzled mosaic is the optical PSF integrated over a detector pixel
(the exposure's own sampling), spread again by the drizzle kernel (a square of one
detector pixel at pixfrac 1: over many dithers each input pixel lands on an output pixel
with weight equal to their overlap, which averages to one more detector-pixel box), and
integrated over the mosaic pixel. So PRF = PSF ⊗ box(p_det) ⊗ box(p_det) ⊗ box(p_mos),
computed here on an oversampled grid, as the width of a Gaussian fitted to a few stars
is fragile and the PSF is known.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d, map_coordinates

from .algorithm import Prf


def _box(width: int) -> np.ndarray:
    """Simpson taps of a box ``width`` samples wide (even): exact for cubics, so the box's
    second moment width²/12 is kept (trapezoid taps add 1/6 sample²)."""
    if width < 2 or width % 2:
        raise ValueError(f"box width must be an even number of samples (got {width})")
    taps = np.ones(width + 1)
    taps[1:-1:2], taps[2:-1:2] = 4.0, 2.0
    return taps / taps.sum()


def _smooth(image: np.ndarray, width: int) -> np.ndarray:
    taps = _box(width)
    return convolve1d(convolve1d(image, taps, axis=0, mode="constant"), taps, axis=1, mode="constant")


def mosaic_prf(psf: np.ndarray, sample_arcsec: float, detector_pixel_arcsec: float,
               mosaic_pixel_arcsec: float, oversampling: int = 4) -> Prf:
    """The mosaic PRF (:class:`Prf`, ``oversampling`` samples per mosaic pixel) of an optical PSF.

    ``psf``: the optical PSF, square, odd-sized, centred, zero beyond its edge, sampled an
    even number of times per detector pixel (``detector_pixel_arcsec / sample_arcsec``);
    ``oversampling`` even.
    """
    psf = np.asarray(psf, float)
    if psf.ndim != 2 or psf.shape[0] != psf.shape[1] or psf.shape[0] % 2 == 0:
        raise ValueError(f"the PSF must be a square, odd-sized image (got shape {psf.shape})")
    if not (sample_arcsec > 0 and detector_pixel_arcsec > 0 and mosaic_pixel_arcsec > 0):
        raise ValueError("sampling, detector and mosaic pixel sizes must be positive")
    det = round(detector_pixel_arcsec / sample_arcsec)
    if abs(det * sample_arcsec - detector_pixel_arcsec) > 1e-6 * detector_pixel_arcsec:
        raise ValueError(f"the PSF must be sampled a whole number of times per detector pixel "
                         f"({detector_pixel_arcsec} / {sample_arcsec})")
    spread = _smooth(_smooth(psf, det), det)  # detector pixel, then the drizzle kernel
    centre = psf.shape[0] // 2
    step = mosaic_pixel_arcsec / oversampling / sample_arcsec  # output sample in input samples
    half = int(np.floor(centre / step))
    u = np.arange(-half, half + 1) * step + centre
    yy, xx = np.meshgrid(u, u, indexing="ij")
    out = map_coordinates(spread, [yy, xx], order=3, mode="constant", cval=0.0)
    out = _smooth(np.clip(out, 0.0, None), oversampling)  # the mosaic pixel
    return Prf.from_image(out, oversampling)
