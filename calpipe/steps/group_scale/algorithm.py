"""Raw ramps to float32 ramps, rescaled when the on-board divisor was not the frame count."""

from __future__ import annotations

import numpy as np


def scale_factor(nframes: int | None, frame_divisor: int | None) -> float:
    """FRMDIVSR / NFRAMES, or 1 when the groups are already frame means.

    On board, the ``nframes`` frames of a group are summed and divided by
    ``frame_divisor`` (a power of two, so the division is a bit shift); the
    mean of the frames is that value × FRMDIVSR / NFRAMES.
    """
    if frame_divisor is None or nframes is None or frame_divisor == nframes:
        return 1.0
    if frame_divisor <= 0 or nframes <= 0:
        raise ValueError(f"NFRAMES = {nframes} and FRMDIVSR = {frame_divisor} must both be positive")
    return frame_divisor / nframes


def to_float_ramps(raw: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """A float32 copy of ``raw`` multiplied by ``factor`` (one allocation, scaled in place)."""
    out = raw.astype(np.float32)
    if factor != 1.0:
        out *= np.float32(factor)
    return out
