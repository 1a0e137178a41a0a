"""Undo the 24 um on-board encoding: slope and first-difference words to rates, with their noise.

On board (detector.py): slope word = rint(SLPSCALE x least-squares slope [DN/sample]) + SLPZERO,
difference word = read_1 - read_0 + DIFZERO. So slope [DN/s] = (word - SLPZERO) / SLPSCALE /
SAMPTIME and first-difference rate [DN/s] = (word - DIFZERO) / SAMPTIME.

Noise of the least-squares slope of n reads dt apart (one read per group; Rauscher et al. 2007):
    var = 12 s_r^2 / (n (n^2 - 1) dt^2) + 6 (n^2 + 1) / (5 n (n^2 - 1)) r / (g dt)
with s_r the read noise of one sample [DN], g the gain [e-/DN] and r the rate [DN/s] (>= 0);
of a first difference: 2 s_r^2 / dt^2 + r / (g dt).
"""

from __future__ import annotations

import numpy as np


def decode(words: np.ndarray, scale: float, zero: float, diff_zero: float,
           dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(slope, first-difference rate) [DN/s] as float32 from uint16 words (2, ny, nx)."""
    w = np.asarray(words, np.float64)
    slope = (w[0] - zero) / scale / dt
    diff = (w[1] - diff_zero) / dt
    return slope.astype(np.float32), diff.astype(np.float32)


def slope_variance(rate: np.ndarray, nreads: int, dt: float, gain: float,
                   read_dn: float) -> tuple[np.ndarray, np.ndarray]:
    """(Poisson, read-noise) variances [DN^2/s^2] of an on-board slope (float32)."""
    n = float(nreads)
    read = 12.0 * read_dn**2 / (n * (n * n - 1.0) * dt * dt)
    poisson = 6.0 * (n * n + 1.0) / (5.0 * n * (n * n - 1.0)) * np.maximum(rate, 0.0) / (gain * dt)
    return poisson.astype(np.float32), np.full(np.shape(rate), read, np.float32)


def difference_variance(rate: np.ndarray, dt: float, gain: float,
                        read_dn: float) -> tuple[np.ndarray, np.ndarray]:
    """(Poisson, read-noise) variances of a first-difference rate (float32)."""
    poisson = np.maximum(rate, 0.0) / (gain * dt)
    return poisson.astype(np.float32), np.full(np.shape(rate), 2.0 * read_dn**2 / (dt * dt), np.float32)
