"""Multiplicative rescaling of an image with its uncertainties."""

from __future__ import annotations

import numpy as np


def scale_image(factor: float, sci: np.ndarray, err: np.ndarray | None = None,
                variances: tuple[np.ndarray | None, ...] = ()) -> None:
    """Multiply ``sci`` and ``err`` by ``factor`` and each variance by ``factor²``, in place."""
    f = np.float32(factor)
    sci *= f
    if err is not None:
        err *= f
    for var in variances:
        if var is not None:
            var *= f * f
