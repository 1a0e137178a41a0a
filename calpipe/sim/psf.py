"""A Gaussian PSF integrated over each pixel: exact pixel sampling, however undersampled."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def pixel_fractions(centre: float, sigma: float, lo: int, hi: int) -> np.ndarray:
    """Fraction of a 1-D Gaussian falling in pixels lo..hi-1 (pixel i spans i-0.5..i+0.5)."""
    edges = (np.arange(lo, hi + 1) - 0.5 - centre) / (sigma * math.sqrt(2.0))
    return 0.5 * np.diff([math.erf(e) for e in edges])


def footprint(x: float, y: float, sigma: float, half: int, shape: tuple[int, int]
              ) -> tuple[int, int, np.ndarray] | None:
    """(y0, x0, fractions) of a Gaussian at (x, y) over the pixels within ``half`` of its nearest pixel.

    The box is clipped to the array; None when nothing of it falls on the array.
    """
    ny, nx = shape
    cx, cy = round(float(x)), round(float(y))
    x0, x1, y0, y1 = max(cx - half, 0), min(cx + half + 1, nx), max(cy - half, 0), min(cy + half + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, x0, np.outer(pixel_fractions(y, sigma, y0, y1), pixel_fractions(x, sigma, x0, x1))


def point_source_image(sources: Iterable[tuple[float, float, float]], sigma: float,
                       shape: tuple[int, int]) -> np.ndarray:
    """Sum over sources (x, y, total) of the pixel-integrated Gaussian PSF (float64), ±6σ around each."""
    image = np.zeros(shape)
    half = math.ceil(6 * sigma) + 1
    for x, y, total in sources:
        box = footprint(x, y, sigma, half, shape)
        if box is not None:
            y0, x0, fractions = box
            image[y0:y0 + fractions.shape[0], x0:x0 + fractions.shape[1]] += total * fractions
    return image
