"""Droop of the 24 um array: every pixel reads c times the array's mean signal on top of its own.

Measured m_i = r_i + c_i R with R = mean_j r_j over the whole array. Averaging, mean(m) =
R (1 + mean(c)), so R = mean(m) / (1 + mean(c)) and r_i = m_i - c_i R: exact, and the mean over
16384 pixels adds no noise worth counting. Non-finite pixels are left out of the mean.
"""

from __future__ import annotations

import numpy as np


def remove(data: np.ndarray, coeff: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(corrected float32, R the mean array signal [DN/s], droop map c R subtracted)."""
    finite = np.isfinite(data) & np.isfinite(coeff)
    if not finite.any():
        return np.array(data, np.float32), float("nan"), np.zeros(data.shape)
    mean_m = float(np.mean(np.asarray(data, np.float64)[finite]))
    signal = mean_m / (1.0 + float(np.mean(np.asarray(coeff, np.float64)[finite])))
    droop = np.where(np.isfinite(coeff), coeff, 0.0) * signal
    return (data - droop).astype(np.float32), signal, droop
