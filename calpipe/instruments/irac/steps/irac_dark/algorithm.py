"""Dark subtraction of one frame, with the dark's uncertainty and DQ."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def subtract_dark(data: np.ndarray, err: np.ndarray, dq: np.ndarray, dark: np.ndarray,
                  dark_err: np.ndarray | None = None, dark_dq: np.ndarray | None = None) -> None:
    """data −= dark, err² += dark_err², dq |= dark_dq, in place.

    The dark is DN per frame for this FRAMTIME (a dark frame taken with the same
    Fowler sampling, so it already holds the dark current and the readout's
    own offset pattern). Pixels without a dark value (non-finite) keep their data
    and are flagged DO_NOT_USE.
    """
    if dark.shape != data.shape:
        raise ValueError(f"dark shape {dark.shape} does not match the data's {data.shape}")
    missing = ~np.isfinite(dark)
    data -= np.where(missing, 0.0, dark).astype(np.float32)
    dq[missing] |= np.uint32(DQ.DO_NOT_USE)
    if dark_dq is not None:
        dq |= dark_dq.astype(np.uint32)
    if dark_err is not None:
        extra = np.nan_to_num(dark_err.astype(np.float64))
        err[...] = np.sqrt(err.astype(np.float64) ** 2 + extra**2).astype(np.float32)
