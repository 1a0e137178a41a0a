"""Saturation of a Fowler difference, which is double-valued.

A pixel whose well fills (measured signal ``saturation`` DN per read) during
the signal reads gives at most the difference it had when the last signal read
just reached the well: for reads at (δ + i − 1) ticks that is
saturation · (W + N) / (W + 2N − 1 + δ) DN per frame. Pixels at or above
``fraction`` of that ceiling are SATURATED.

Brighter pixels saturate earlier, their pedestal reads rise too and the
difference falls again, down to 0: one frame cannot tell such a pixel from a
faint one, but its place can. The difference never exceeds a pixel's linear
signal, and equals it (through the monotonic non-linearity) below saturation;
along any line a star's (log-concave) profile rises then falls, so a pixel's
linear signal is at least the smaller of those of any two pixels on either
side of it. A pixel whose difference is well below both of its sides along a
row, column or diagonal (each side, within ``radius`` pixels, saturated,
already fallen, or brighter than it by ``ratio``, a margin for noise, and at
least ``bright_fraction`` of the threshold) must therefore have fallen: a
dip no single source makes. Both sides must belong to the same source, a
patch of pixels connected through flagged pixels or pixels of at least half
that brightness, so the sky between two saturated stars stays unflagged.
Fallen pixels are flagged SATURATED too and marked SATURATED_FALLBACK; found
again until stable, so a fallen core fills from its edge inwards. Not found: a
pixel on the outer rim of a saturated core whose difference has fallen below
the threshold but not below its outer neighbours, which looks like a wing
(a per-pixel full-well map or a PSF fit to the wings would be needed).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..neighbours import shift

AXES = ((0, 1), (1, 0), (1, 1), (1, -1))


class Saturation(NamedTuple):
    saturated: np.ndarray  # bool: at the ceiling
    fallen: np.ndarray  # bool: on the falling branch, found from the neighbours


def ceiling(saturation: float, nfowler: int, wait: int, first_read: float = 1.0) -> float:
    """Largest Fowler difference [DN per frame] of a pixel that saturates no earlier than its last read."""
    return saturation * (wait + nfowler) / (wait + 2 * nfowler - 1 + first_read)


def labels(mask: np.ndarray) -> np.ndarray:
    """Connected (8-neighbour) regions of ``mask`` numbered 1.. (0 outside), by max-label propagation."""
    out = np.where(mask, np.arange(1, mask.size + 1).reshape(mask.shape), 0)
    while True:
        grown = out.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            grown = np.maximum(grown, shift(out, dy, dx))
        grown = np.where(mask, grown, 0)
        if np.array_equal(grown, out):
            return out
        out = grown


def _nearest(patch: np.ndarray, flag: np.ndarray, values: np.ndarray, floor: np.ndarray, dy: int, dx: int,
             radius: int) -> np.ndarray:
    """Patch label of the nearest pixel towards (dy, dx), within ``radius``, that is flagged or >= floor."""
    out = np.zeros(patch.shape, patch.dtype)
    for k in range(radius, 0, -1):
        ok = shift(flag, k * dy, k * dx) | (shift(values, k * dy, k * dx) >= floor)
        out = np.where(ok, shift(patch, k * dy, k * dx), out)
    return out


def fallen_pixels(flag: np.ndarray, values: np.ndarray, radius: int, ratio: float,
                  level: float) -> np.ndarray:
    """Unflagged pixels lying, on some axis, between two pixels of one patch each flagged or much brighter.

    A patch is a connected region of flagged pixels and pixels of at least half
    ``level`` (see the module docstring).
    """
    patch = labels(flag | (values >= 0.5 * level))
    floor = np.maximum(ratio * values, level)
    out = np.zeros(flag.shape, bool)
    for dy, dx in AXES:
        ahead = _nearest(patch, flag, values, floor, dy, dx, radius)
        behind = _nearest(patch, flag, values, floor, -dy, -dx, radius)
        out |= (ahead > 0) & (ahead == behind)
    return out & ~flag


def find_saturated(data: np.ndarray, threshold: float, radius: int = 3, ratio: float = 1.1,
                   bright_fraction: float = 0.5, ignore: np.ndarray | None = None,
                   max_iter: int = 20) -> Saturation:
    """Pixels at or above ``threshold`` and the fallen pixels found among them (see module docstring).

    ``ignore``: pixels whose value is no sample of the light profile (dead, hot,
    low-QE, unusable); they take no part in the search for fallen pixels.
    """
    finite = np.isfinite(data)
    values = np.where(finite, data, -np.inf).astype(np.float64)
    saturated = values >= threshold
    usable = finite if ignore is None else finite & ~ignore
    values[~usable] = -np.inf
    fallen = np.zeros_like(saturated)
    level = bright_fraction * threshold
    if radius > 0 and (values >= level).any():
        for _ in range(max_iter):
            new = fallen_pixels(saturated | fallen, values, radius, ratio, level) & usable
            if not new.any():
                break
            fallen |= new
    return Saturation(saturated, fallen)
