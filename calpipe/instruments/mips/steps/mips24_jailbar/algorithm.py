"""Jailbars of the 24 um array: an offset per readout channel, each reading every fourth column.

Every channel samples the whole field alike, so the sky medians of the four channels differ only
by their offsets: the offset of channel c (columns x with x mod 4 = c) is its sky median minus the
mean of the four medians (the image's mean level is kept). Sky pixels are the usable ones within
``clip`` robust sigma of the sky after removing the offsets found so far (three passes). An offset
is applied only when it exceeds ``min_significance`` times its standard error 1.2533 sigma / sqrt(n).
The estimate is the generic one of calpipe.steps.readout_offsets (shared with IRAC); the 24 um
array takes its channel medians in float64.
"""

from __future__ import annotations

import numpy as np

from calpipe.steps import readout_offsets
from calpipe.steps.readout_offsets import Offsets

NCHANNEL = 4

__all__ = ["NCHANNEL", "Offsets", "channel_offsets", "equalise"]


def _groups() -> list[slice]:
    """Columns read by each channel: x mod 4 = c."""
    return [slice(c, None, NCHANNEL) for c in range(NCHANNEL)]


def channel_offsets(data: np.ndarray, usable: np.ndarray, clip: float = 3.0, passes: int = 3) -> Offsets:
    """Sky offset of each readout channel relative to their mean (NaN when a channel has no sky)."""
    return readout_offsets.channel_offsets(data, usable, _groups(), clip, passes, dtype=np.float64)


def equalise(data: np.ndarray, found: Offsets,
             min_significance: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, bool map of corrected pixels)."""
    return readout_offsets.equalise(data, found, _groups(), min_significance)
