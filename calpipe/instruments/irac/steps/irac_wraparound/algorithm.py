"""Unwrap 16-bit wraparound of IRAC frames in DN per frame.

A stored word is the shifted Fowler sum modulo 65536, so a value d stands for
d + kP with P = 65536 · 2^ABARREL / N (``readout.wrap_period``). Physics picks k:
- negative sums (noise or offsets on a dark pixel) wrap to just below P. No
  pixel gives a Fowler difference as large as ``wrap_threshold`` (a full well
  is ~44-55 kDN), so every value at or above it is one of these: d − P. This
  is exact, not a guess.
- IRAC shifts by ABARREL >= log2 N, so N reads below 65536 always fit the
  word and nothing wraps upwards. With a smaller ABARREL (P not above
  ``wrap_threshold``) a bright value can wrap past P to a small one and a
  negative sum can look bright; one frame can then only fix isolated pixels:
  a pixel more than P/2 below the median of its 8 neighbours moves up by P if
  the result is still possible (< wrap_threshold), one more than P/2 above
  moves down if the result is a plausible negative (>= −max_negative),
  repeated until stable; such values get FLUX_ESTIMATED. A wrapped area wider
  than a pixel, or the wrapped peak of an undersampled star (steeper than P/2
  per pixel), cannot be told from a real dip and is left as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..neighbours import RING8, nanmedian, stack


class Unwrapped(NamedTuple):
    data: np.ndarray
    exact: np.ndarray  # bool: negative sums unwrapped by range alone
    estimated: np.ndarray  # bool: unwrapped by comparison with the neighbours


def unwrap(data: np.ndarray, period: float, wrap_threshold: float, max_negative: float,
           max_iter: int = 10) -> Unwrapped:
    """Return the unwrapped frame (float32) and which pixels moved (see module docstring)."""
    out = np.array(data, np.float64)
    finite = np.isfinite(out)
    exact = finite & (out >= wrap_threshold)
    out[exact] -= period
    estimated = np.zeros(out.shape, bool)
    if period <= wrap_threshold + max_negative:  # otherwise every value has one possible meaning
        for _ in range(max_iter):
            med = nanmedian(stack(np.where(finite, out, np.nan), RING8))
            with np.errstate(invalid="ignore"):
                up = finite & (med - out > period / 2) & (out + period < wrap_threshold)
                down = finite & (out - med > period / 2) & (out - period >= -max_negative)
            if not (up.any() or down.any()):
                break
            out[up] += period
            out[down] -= period
            estimated |= up | down
    return Unwrapped(out.astype(np.float32), exact & ~estimated, estimated)
