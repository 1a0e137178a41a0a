"""Bad-pixel mask application."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def init_dq(sci: np.ndarray, dq: np.ndarray | None, mask: np.ndarray, flag_nonfinite: bool) -> np.ndarray:
    """OR the mask into the DQ array; optionally mark non-finite science pixels DO_NOT_USE.

    The mask must have the image's shape: a silent broadcast would flag the
    wrong pixels.
    """
    if mask.shape != sci.shape[-2:]:
        raise ValueError(f"mask shape {mask.shape} does not match the data's {sci.shape[-2:]}")
    out = np.zeros(sci.shape[-2:], np.uint32) if dq is None else dq.astype(np.uint32, copy=True)
    out |= mask.astype(np.uint32)
    if flag_nonfinite:
        bad = ~np.isfinite(sci)
        if bad.ndim > 2:
            bad = bad.any(axis=tuple(range(bad.ndim - 2)))
        out[bad] |= DQ.DO_NOT_USE
    return out
