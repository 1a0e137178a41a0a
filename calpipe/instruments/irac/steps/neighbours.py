"""Neighbourhoods of every pixel as stacked arrays (pure numpy; edges reflected, NaN = no value)."""

from __future__ import annotations

import warnings

import numpy as np

RING8 = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
RING16 = tuple((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if max(abs(dy), abs(dx)) == 2)


def stack(img: np.ndarray, offsets: tuple[tuple[int, int], ...]) -> np.ndarray:
    """(len(offsets), ny, nx): the value at (y + dy, x + dx) for each offset, mirrored at the edges."""
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    pad = np.pad(img, r, mode="reflect")
    ny, nx = img.shape
    return np.stack([pad[r + dy:r + dy + ny, r + dx:r + dx + nx] for dy, dx in offsets])


def nanmedian(values: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN; NaN where nothing is left (quietly)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=0)


def shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask`` moved so that out[y, x] = mask[y + dy, x + dx]; False (zero) outside the frame."""
    out = np.zeros_like(mask)
    ny, nx = mask.shape
    ys, yd = (slice(dy, ny), slice(0, ny - dy)) if dy >= 0 else (slice(0, ny + dy), slice(-dy, ny))
    xs, xd = (slice(dx, nx), slice(0, nx - dx)) if dx >= 0 else (slice(0, nx + dx), slice(-dx, nx))
    out[yd, xd] = mask[ys, xs]
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by a (2 radius + 1)² square."""
    out = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy or dx:
                out |= shift(mask, dy, dx)
    return out
