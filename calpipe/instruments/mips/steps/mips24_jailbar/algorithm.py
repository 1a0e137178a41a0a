"""Jailbars of the 24 um array: an offset per readout channel, each reading every fourth column.

Every channel samples the whole field alike, so the sky medians of the four channels differ only
by their offsets: the offset of channel c (columns x with x mod 4 = c) is its sky median minus the
mean of the four medians (the image's mean level is kept). Sky pixels are the usable ones within
``clip`` robust sigma of the sky after removing the offsets found so far (three passes). An offset
is applied only when it exceeds ``min_significance`` times its standard error 1.2533 sigma / sqrt(n).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NCHANNEL = 4


class Offsets(NamedTuple):
    offsets: np.ndarray  # (4,) by readout channel
    errors: np.ndarray  # (4,) standard error of each
    npix: np.ndarray  # (4,) sky pixels used


def channel_offsets(data: np.ndarray, usable: np.ndarray, clip: float = 3.0, passes: int = 3) -> Offsets:
    """Sky offset of each readout channel relative to their mean (NaN when a channel has no sky)."""
    cols = [np.arange(c, data.shape[1], NCHANNEL) for c in range(NCHANNEL)]
    offsets = np.zeros(NCHANNEL)
    errors = np.full(NCHANNEL, np.inf)
    npix = np.zeros(NCHANNEL, int)
    good = usable & np.isfinite(data)
    if not good.any():
        return Offsets(np.full(NCHANNEL, np.nan), errors, npix)
    for _ in range(passes):
        resid = np.array(data, np.float64)
        for c in range(NCHANNEL):
            resid[:, cols[c]] -= offsets[c]
        level = np.median(resid[good])
        sigma = 1.4826 * np.median(np.abs(resid[good] - level))
        sky = good & (np.abs(resid - level) <= clip * sigma) if sigma > 0 else good
        medians = np.full(NCHANNEL, np.nan)
        for c in range(NCHANNEL):
            values = np.asarray(data[:, cols[c]], np.float64)[sky[:, cols[c]]]
            npix[c] = values.size
            if values.size:
                medians[c] = np.median(values)
                errors[c] = 1.2533 * sigma / np.sqrt(values.size)
        offsets = medians - np.nanmean(medians)
    return Offsets(offsets, errors, npix)


def equalise(data: np.ndarray, found: Offsets,
             min_significance: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, bool map of corrected pixels)."""
    out = np.array(data, np.float32)
    applied = np.zeros(data.shape, bool)
    for c in range(NCHANNEL):
        off, err = found.offsets[c], found.errors[c]
        if np.isfinite(off) and abs(off) > min_significance * err:
            out[:, c::NCHANNEL] -= np.float32(off)
            applied[:, c::NCHANNEL] = True
    return out, applied
