"""Dark subtraction of a slope image: rate - dark rate, the dark's uncertainty added in quadrature."""

from __future__ import annotations

import numpy as np


def subtract(data: np.ndarray, err: np.ndarray, dark: np.ndarray,
             dark_err: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, err, missing): non-finite dark values leave the pixel as is (missing)."""
    missing = ~np.isfinite(dark)
    out = np.where(missing, data, data - np.where(missing, 0.0, dark)).astype(np.float32)
    if dark_err is not None:
        err = np.sqrt(np.asarray(err, np.float64) ** 2 + np.nan_to_num(dark_err) ** 2)
    return out, np.asarray(err, np.float32), missing
