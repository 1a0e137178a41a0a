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
    """Median over axis 0 ignoring NaN; NaN where nothing is left.

    np.nanmedian along axis 0 of a small stack falls back to a slow path (a
    third of an IRAC frame's time); sorting a contiguous copy along the last
    axis, where NaN sort last, and averaging the middle of the finite values is
    4x faster and gives the same numbers.
    """
    stack = np.sort(np.moveaxis(values, 0, -1), axis=-1)
    count = np.isfinite(stack).sum(axis=-1)
    lo = np.clip((count - 1) // 2, 0, None)[..., None]
    hi = np.clip(count // 2, 0, None)[..., None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = 0.5 * (np.take_along_axis(stack, lo, -1) + np.take_along_axis(stack, hi, -1))[..., 0]
    return np.where(count > 0, median, np.nan).astype(values.dtype, copy=False)


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
