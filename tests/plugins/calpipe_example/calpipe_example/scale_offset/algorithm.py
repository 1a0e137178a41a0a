"""Linear rescaling of an image, in plain numpy (no calpipe models), all in float32."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def scale_offset(sci: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """sci·scale + offset."""
    return sci.astype(np.float32) * np.float32(scale) + np.float32(offset)


def scale_error(err: np.ndarray, scale: float) -> np.ndarray:
    """err·scale: the offset is exact and adds no error."""
    return err.astype(np.float32) * np.float32(scale)


def scale_variance(var: np.ndarray, scale: float) -> np.ndarray:
    """var·scale², so that variances stay consistent with the error."""
    return var.astype(np.float32) * np.float32(scale) ** 2


def blank_unusable(array: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """A copy of ``array`` with NaN wherever ``dq`` has DO_NOT_USE."""
    return np.where((dq & DQ.DO_NOT_USE) != 0, np.float32(np.nan), array)
