"""Per-group amplifier offsets of a readout without reference pixels, measured from its own pixels.

A subarray has no reference pixels, so the offset each amplifier adds to every frame (one value
per amplifier and column parity, drifting from frame to frame) stays in its ramps. It is common
to the thousands of pixels of that amplifier and parity, and the sky is not: per integration,
each usable pixel's ramp is fitted with a straight line over its groups, and the median over a
column group's pixels of the residual of group k is that group's offset (as JWST removes the
per-group median of a subarray's sky). It is subtracted from every pixel of the column group.

Only what a straight line cannot absorb is measured: the offsets' constant and linear parts are
indistinguishable from the sky's level and rate (the constant cancels in a slope; the linear
part stays as a rate offset per amplifier, ~0.1 σ of a faint-sky slope on a 256² MEDIUM8
subarray). What is removed is the frame-to-frame noise that made differences of groups, and so
jump detection and slope errors, noisier than the read noise says.
"""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

#: A pixel is used only if none of its groups carries these bits (a pixel-DQ DO_NOT_USE excludes it too).
EXCLUDED = DQ.DO_NOT_USE | DQ.SATURATED | DQ.DROPOUT | DQ.AD_FLOOR | DQ.JUMP_DET


def column_groups(first_column: int, ncols: int, amp_width: int, odd_even: bool) -> np.ndarray:
    """Label of each column: amplifier × 2 + parity (full-frame 0-based column ``first_column`` first)."""
    columns = first_column + np.arange(ncols)
    labels = (columns // amp_width) * 2
    return labels + (columns % 2 if odd_even else 0)


def measure_offsets(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, labels: np.ndarray,
                    min_pixels: int = 100) -> np.ndarray:
    """Offsets (nints, ngroups, nlabels) in DN; 0 where a column group has fewer than ``min_pixels``."""
    nints, ngroups = data.shape[:2]
    nlabels = int(labels.max()) + 1
    offsets = np.zeros((nints, ngroups, nlabels))
    if ngroups < 3:  # a line through two groups leaves no residual
        return offsets
    k = np.arange(ngroups, dtype=np.float64) - (ngroups - 1) / 2.0
    bad_pixel = (pixeldq & DQ.DO_NOT_USE) != 0
    for i in range(nints):
        usable = ~bad_pixel & ~((groupdq[i] & EXCLUDED) != 0).any(axis=0) & np.isfinite(data[i]).all(axis=0)
        ramps = data[i][:, usable].astype(np.float64)  # (ngroups, npix)
        mean = ramps.mean(axis=0)
        slope = (k @ ramps) / (k @ k)
        pixel_labels = np.broadcast_to(labels, usable.shape)[usable]
        for label in range(nlabels):
            members = pixel_labels == label
            if members.sum() < min_pixels:
                continue
            resid = ramps[:, members] - mean[members] - np.outer(k, slope[members])
            offsets[i, :, label] = np.median(resid, axis=1)
    return offsets


def subtract_offsets(data: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
    """data[i, k, :, x] -= offsets[i, k, labels[x]], in place."""
    data -= offsets[:, :, labels][:, :, None, :].astype(data.dtype)
