"""Flux conversion of an image with its uncertainties."""

from __future__ import annotations

import numpy as np


def convert(photmjsr: float, sci: np.ndarray, err: np.ndarray | None = None,
            variances: tuple[np.ndarray | None, ...] = ()) -> None:
    """Multiply ``sci`` and ``err`` by PHOTMJSR and each variance by its square, in place."""
    c = np.float32(photmjsr)
    sci *= c
    if err is not None:
        err *= c
    for var in variances:
        if var is not None:
            var *= c * c
