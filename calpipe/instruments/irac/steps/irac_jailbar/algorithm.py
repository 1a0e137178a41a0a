"""Readout-channel ("jailbar") equalisation.

Each of the four readout channels reads every fourth column; a channel's own
offset draws vertical bars. Every channel samples the whole field alike, so the
sky medians of the four channels differ only by their offsets: the offset of
channel c is its sky median minus the mean of the four medians (the frame's
mean level is kept). Sky pixels are the usable ones within ``clip`` robust
sigma of the sky after removing the offsets found so far (three passes). An
offset is applied, and its pixels flagged JAILBAR, only when it exceeds
``min_significance`` times its standard error 1.2533 σ / sqrt(n).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..readout import NREADOUT, readout_columns


class Offsets(NamedTuple):
    offsets: np.ndarray  # (4,) DN, by readout channel
    errors: np.ndarray  # (4,) standard error of each offset
    npix: np.ndarray  # (4,) sky pixels used


def channel_offsets(data: np.ndarray, usable: np.ndarray, clip: float = 3.0, passes: int = 3,
                    x0: int = 0) -> Offsets:
    """Sky offset of each readout channel relative to their mean (NaN when a channel has no sky)."""
    nx = data.shape[1]
    cols = [readout_columns(nx, c, x0) for c in range(NREADOUT)]
    offsets = np.zeros(NREADOUT)
    errors = np.full(NREADOUT, np.inf)
    npix = np.zeros(NREADOUT, int)
    good = usable & np.isfinite(data)
    if not good.any():
        return Offsets(np.full(NREADOUT, np.nan), errors, npix)
    for _ in range(passes):
        resid = np.array(data, np.float64)
        for c in range(NREADOUT):
            resid[:, cols[c]] -= offsets[c]
        level = np.median(resid[good])
        sigma = 1.4826 * np.median(np.abs(resid[good] - level))
        sky = good & (np.abs(resid - level) <= clip * sigma) if sigma > 0 else good
        medians = np.full(NREADOUT, np.nan)
        for c in range(NREADOUT):
            values = data[:, cols[c]][sky[:, cols[c]]]
            npix[c] = values.size
            if values.size:
                medians[c] = np.median(values)
                errors[c] = 1.2533 * sigma / np.sqrt(values.size)
        offsets = medians - np.nanmean(medians)
    return Offsets(offsets, errors, npix)


def equalise(data: np.ndarray, found: Offsets, min_significance: float = 3.0,
             x0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, bool map of corrected pixels): significant offsets subtracted."""
    out = np.array(data, np.float32)
    applied = np.zeros(data.shape, bool)
    for c in range(NREADOUT):
        off, err = found.offsets[c], found.errors[c]
        if np.isfinite(off) and abs(off) > min_significance * err:
            cols = readout_columns(data.shape[1], c, x0)
            out[:, cols] -= np.float32(off)
            applied[:, cols] = True
    return out, applied
