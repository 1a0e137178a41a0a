"""Flux conversion of an IRAC frame: BCD [MJy/sr] = DN × FLUXCONV / EXPTIME.

FLUXCONV is MJy/sr per DN/s; EXPTIME = 0.2 (W + N) s is the time between the
reads of a Fowler pair, i.e. the exposure the mean read difference integrates.
"""

from __future__ import annotations

import numpy as np


def factor(fluxconv: float, exptime: float) -> float:
    """MJy/sr per DN (per frame)."""
    return fluxconv / exptime


def convert(data: np.ndarray, err: np.ndarray, fluxconv: float,
            exptime: float) -> tuple[np.ndarray, np.ndarray]:
    """(data, err) in MJy/sr as float32."""
    f = factor(fluxconv, exptime)
    return ((data.astype(np.float64) * f).astype(np.float32), (err.astype(np.float64) * f).astype(np.float32))
