"""Readout-channel ("jailbar") equalisation.

Each of the four readout channels reads every fourth column; a channel's own
offset draws vertical bars. Every channel samples the whole field alike, so the
sky medians of the four channels differ only by their offsets: the offset of
channel c is its sky median minus the mean of the four medians (the frame's
mean level is kept). Sky pixels are the usable ones within ``clip`` robust
sigma of the sky after removing the offsets found so far (three passes). An
offset is applied, and its pixels flagged JAILBAR, only when it exceeds
``min_significance`` times its standard error 1.2533 σ / sqrt(n). The estimate
is the generic one of calpipe.steps.readout_offsets (shared with MIPS 24 um);
IRAC takes its channel medians in the data's own dtype (float32).
"""

from __future__ import annotations

import numpy as np

from calpipe.steps import readout_offsets
from calpipe.steps.readout_offsets import Offsets

from ..readout import NREADOUT, readout_columns

__all__ = ["Offsets", "channel_offsets", "equalise"]


def _groups(nx: int, x0: int) -> list[slice]:
    """Columns of the data read by each readout channel; ``x0`` = first full-frame column."""
    return [readout_columns(nx, c, x0) for c in range(NREADOUT)]


def channel_offsets(data: np.ndarray, usable: np.ndarray, clip: float = 3.0, passes: int = 3,
                    x0: int = 0) -> Offsets:
    """Sky offset of each readout channel relative to their mean (NaN when a channel has no sky)."""
    return readout_offsets.channel_offsets(data, usable, _groups(data.shape[1], x0), clip, passes, dtype=None)


def equalise(data: np.ndarray, found: Offsets, min_significance: float = 3.0,
             x0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, bool map of corrected pixels): significant offsets subtracted."""
    return readout_offsets.equalise(data, found, _groups(data.shape[1], x0), min_significance)
