"""First-frame effect: a bias offset set by the time since the previous frame ended (FRAMEDLY).

The reference holds, per pixel, the two coefficients of
offset [DN per frame] = a + b · log10(delay / 1 s), as data[0] = a, data[1] = b
(shape (2, ny, nx)); its ERR, if any, gives σ_a and σ_b (taken independent).
Delays shorter than the law's validity (``min_delay``, 0.1 s) are taken as it.
"""

from __future__ import annotations

import math

import numpy as np


def offset(coeffs: np.ndarray, delay: float, min_delay: float = 0.1) -> np.ndarray:
    """a + b log10(delay) per pixel [DN per frame], float64; non-finite coefficients give NaN."""
    if coeffs.ndim != 3 or coeffs.shape[0] != 2:
        raise ValueError(f"first-frame coefficients must have shape (2, ny, nx), got {coeffs.shape}")
    if not delay > 0:
        raise ValueError(f"delay {delay} s must be positive")
    return coeffs[0].astype(np.float64) + coeffs[1].astype(np.float64) * math.log10(max(delay, min_delay))


def offset_variance(coeffs_err: np.ndarray, delay: float, min_delay: float = 0.1) -> np.ndarray:
    """σ_a² + (log10 delay)² σ_b²."""
    lg = math.log10(max(delay, min_delay))
    e = np.nan_to_num(coeffs_err.astype(np.float64))
    return e[0] ** 2 + lg * lg * e[1] ** 2
