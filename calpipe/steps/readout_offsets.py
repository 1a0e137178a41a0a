"""Sky offsets of interleaved readout channels ("jailbars"), pure numpy, no framework.

Why one shared piece: arrays whose readout channels each read an interleaved set of
columns (IRAC and the MIPS 24 um array: column mod 4) show each channel's own offset
as vertical bars, and the estimate is the same whatever the instrument. Every channel
samples the whole field alike, so the sky medians of the channels differ only by
their offsets: the offset of a channel is its sky median minus the mean of the
channels' medians (the image's mean level is kept). Sky pixels are the usable ones
within ``clip`` robust sigma (1.4826 MAD) of the sky after removing the offsets found
so far (``passes`` passes). The standard error of an offset is 1.2533 sigma / sqrt(n).

The instrument says which columns each channel reads (``groups``: one column index per
channel, e.g. ``slice(c, None, 4)``; a subarray shifts them) and in which dtype the
channel medians are taken (``dtype``): np.median of an even count averages two values,
so the dtype can change the last bits, and each released pipeline keeps its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class Offsets(NamedTuple):
    offsets: np.ndarray  # (nchannel,) by readout channel, in the data's unit
    errors: np.ndarray  # (nchannel,) standard error of each offset
    npix: np.ndarray  # (nchannel,) sky pixels used


def channel_offsets(data: np.ndarray, usable: np.ndarray, groups: Sequence[Any], clip: float = 3.0,
                    passes: int = 3, dtype: Any = None) -> Offsets:
    """Sky offset of each channel relative to their mean (NaN when a channel has no sky).

    ``groups[c]`` indexes the columns (axis 1) that channel c reads; ``dtype`` is that of the
    sky values whose median makes a channel's level (None: the data's own dtype).
    """
    n = len(groups)
    offsets = np.zeros(n)
    errors = np.full(n, np.inf)
    npix = np.zeros(n, int)
    good = usable & np.isfinite(data)
    if not good.any():
        return Offsets(np.full(n, np.nan), errors, npix)
    for _ in range(passes):
        resid = np.array(data, np.float64)
        for c, cols in enumerate(groups):
            resid[:, cols] -= offsets[c]
        level = np.median(resid[good])
        sigma = 1.4826 * np.median(np.abs(resid[good] - level))
        sky = good & (np.abs(resid - level) <= clip * sigma) if sigma > 0 else good
        medians = np.full(n, np.nan)
        for c, cols in enumerate(groups):
            values = data[:, cols][sky[:, cols]]
            if dtype is not None:
                values = values.astype(dtype, copy=False)
            npix[c] = values.size
            if values.size:
                medians[c] = np.median(values)
                errors[c] = 1.2533 * sigma / np.sqrt(values.size)
        offsets = medians - np.nanmean(medians)
    return Offsets(offsets, errors, npix)


def equalise(data: np.ndarray, found: Offsets, groups: Sequence[Any],
             min_significance: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, bool map of corrected pixels): offsets above min_significance errors removed."""
    out = np.array(data, np.float32)
    applied = np.zeros(data.shape, bool)
    for c, cols in enumerate(groups):
        off, err = found.offsets[c], found.errors[c]
        if np.isfinite(off) and abs(off) > min_significance * err:
            out[:, cols] -= np.float32(off)
            applied[:, cols] = True
    return out, applied
