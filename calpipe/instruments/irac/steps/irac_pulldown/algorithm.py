"""Column pulldown: a bright pixel shifts the level of the rest of its column by a constant.

Where the shift starts and stops is not assumed: a column holding bright pixels
is cut at their rows into segments (before the first, between, after the
last), and each segment's offset is measured on its own. The offset of a
segment is the clipped mean, over its rows away from any bright pixel of the
column (``mask_radius``), of the column's value minus the median, in the same row, of the ``neighbours``
nearest columns on each side that hold no bright pixel themselves (looked for
up to ``MAX_REACH`` columns away, so a wide saturated star still has some). It is subtracted from the whole
segment, and flagged PULLDOWN, when it exceeds ``min_significance`` standard
errors and rests on at least ``min_rows`` rows; its variance is added to ERR.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from ..neighbours import nanmedian

MAX_REACH = 32  # columns searched on each side for reference columns


class Pulldown(NamedTuple):
    data: np.ndarray  # float32
    applied: np.ndarray  # bool
    variance: np.ndarray  # added variance [DN²]
    offsets: list[tuple[int, int, int, float, float]]  # (column, first row, stop row, offset, error)


def clipped_mean(values: np.ndarray, clip: float = 3.0, passes: int = 3) -> tuple[float, float, int]:
    """(mean, its standard error, n kept) after clipping at ``clip`` robust sigma around the median."""
    keep = values[np.isfinite(values)]
    for _ in range(passes):
        if keep.size < 2:
            break
        med = np.median(keep)
        sigma = 1.4826 * np.median(np.abs(keep - med))
        if sigma == 0:
            break
        new = keep[np.abs(keep - med) <= clip * sigma]
        if new.size == keep.size:
            break
        keep = new
    if keep.size < 2:
        return float("nan"), float("inf"), int(keep.size)
    return float(keep.mean()), float(keep.std(ddof=1) / np.sqrt(keep.size)), int(keep.size)


def segments(ny: int, rows: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges [start, stop) between the bright rows (which belong to none)."""
    edges = [-1, *sorted(int(r) for r in rows), ny]
    return [(a + 1, b) for a, b in itertools.pairwise(edges) if b > a + 1]


def _reference_columns(x: int, is_bright_col: np.ndarray, neighbours: int) -> list[int]:
    """The ``neighbours`` nearest columns without bright pixels on each side of ``x``."""
    nx = is_bright_col.size
    out: list[int] = []
    for step in (-1, 1):
        found = 0
        for d in range(1, MAX_REACH + 1):
            c = x + step * d
            if found == neighbours or not 0 <= c < nx:
                break
            if not is_bright_col[c]:
                out.append(c)
                found += 1
    return out


def correct(data: np.ndarray, usable: np.ndarray, bright: np.ndarray, mask_radius: int = 5,
            neighbours: int = 3, min_rows: int = 10, min_significance: float = 3.0,
            clip: float = 3.0) -> Pulldown:
    """Measure and remove the pulldown of every column holding a bright pixel (see module docstring)."""
    ny, nx = data.shape
    out = np.array(data, np.float64)
    applied = np.zeros(data.shape, bool)
    variance = np.zeros(data.shape, np.float64)
    found: list[tuple[int, int, int, float, float]] = []
    sky = np.where(usable & np.isfinite(data), data, np.nan).astype(np.float64)
    bright_cols = np.flatnonzero(bright.any(axis=0))
    is_bright_col = np.zeros(nx, bool)
    is_bright_col[bright_cols] = True
    for x in bright_cols:
        refs = _reference_columns(x, is_bright_col, neighbours)
        if not refs:
            continue
        rows = np.flatnonzero(bright[:, x])
        near = np.zeros(ny, bool)
        for y in rows:
            near[max(0, y - mask_radius):y + mask_radius + 1] = True
        diff = sky[:, x] - nanmedian(sky[:, refs].T)
        for start, stop in segments(ny, rows):
            span = np.arange(start, stop)
            use = span[~near[span]]
            if use.size < min_rows:
                continue
            offset, error, n = clipped_mean(diff[use], clip)
            if n >= min_rows and np.isfinite(offset) and abs(offset) > min_significance * error:
                out[start:stop, x] -= offset
                applied[start:stop, x] = True
                variance[start:stop, x] += error * error
                found.append((int(x), start, stop, offset, error))
    return Pulldown(out.astype(np.float32), applied, variance, found)
