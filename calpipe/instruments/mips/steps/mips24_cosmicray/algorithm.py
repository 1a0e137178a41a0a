"""Cosmic rays in a 24 um slope image: found by their shape, flagged, never removed.

The ramp was fitted on board, so a hit cannot be taken out of the slope on the ground; it can be
recognised because it is sharper than anything the optics make. A pixel is a hit when
  * it stands ``nsigma`` errors above the local sky, the median of the 16 pixels two pixels away
    (the 5 x 5 ring: beyond a hit's footprint, and far down the PSF's wings), and
  * its excess is more than ``sharpness`` times the largest excess of its 4 side neighbours.
The PSF (FWHM 6" = 2.35 px) puts at least 1/1.7 of a centred source's peak excess into the
brightest side neighbour, and more when the source is off centre; a hit leaves ~4 % there.
Side neighbours of a hit whose own excess exceeds ``nsigma`` are flagged too (the footprint).
"""

from __future__ import annotations

import numpy as np


def _shifted(a: np.ndarray, dy: int, dx: int, fill: float = np.nan) -> np.ndarray:
    """a shifted so that out[y, x] = a[y + dy, x + dx] (``fill`` outside)."""
    out = np.full(a.shape, fill, np.float64)
    ny, nx = a.shape
    ys, yd = (slice(dy, ny), slice(0, ny - dy)) if dy >= 0 else (slice(0, ny + dy), slice(-dy, ny))
    xs, xd = (slice(dx, nx), slice(0, nx - dx)) if dx >= 0 else (slice(0, nx + dx), slice(-dx, nx))
    out[yd, xd] = a[ys, xs]
    return out


def find_hits(data: np.ndarray, err: np.ndarray, usable: np.ndarray, nsigma: float = 5.0,
              sharpness: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(hit pixels, their flagged footprint including side neighbours above nsigma)."""
    values = np.where(usable & np.isfinite(data), np.asarray(data, np.float64), np.nan)
    ring = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if max(abs(dy), abs(dx)) == 2]
    neighbours = np.stack([_shifted(values, dy, dx) for dy, dx in ring])
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            local = np.nanmedian(neighbours, axis=0)
        excess = values - local
        sides = np.stack([_shifted(values, dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]) - local
        side_max = np.nanmax(np.where(np.isfinite(sides), sides, -np.inf), axis=0)
        sigma = np.where(err > 0, err, np.inf)
        hits = (excess > nsigma * sigma) & (excess > sharpness * np.maximum(side_max, 0.0))
        hits &= np.isfinite(excess)
        foot = hits.copy()
        strong = np.isfinite(excess) & (excess > nsigma * sigma)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            foot |= (_shifted(hits.astype(float), dy, dx, 0.0) > 0) & strong
    return hits, foot
