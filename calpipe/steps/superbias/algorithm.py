"""Bias subtraction from ramps."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def subtract_bias(data: np.ndarray, pixeldq: np.ndarray, bias: np.ndarray,
                  ref_dq: np.ndarray | None = None) -> None:
    """Subtract ``bias`` (Y, X) from every group of ``data`` (nints, ngroups, Y, X), in place.

    Pixels with no bias value (NaN) keep their data and are flagged
    DO_NOT_USE: their ramps would be off by ~10 kDN. The reference's DQ, if
    any, is OR-ed into ``pixeldq``. The subtraction broadcasts over the cube,
    so no 4-D temporary is made.
    """
    if bias.shape != data.shape[-2:]:
        raise ValueError(f"bias shape {bias.shape} does not match the data's {data.shape[-2:]}")
    missing = ~np.isfinite(bias)
    data -= np.where(missing, 0.0, bias).astype(np.float32)
    pixeldq[missing] |= np.uint32(DQ.DO_NOT_USE)
    if ref_dq is not None:
        pixeldq |= ref_dq.astype(np.uint32)
