"""Saturated 24 um pixels: find them and substitute the first-difference rate.

The on-board least-squares slope of a ramp that reached the well before its last sample is too
low; the first difference (second minus first sample) is not, as long as the second sample
was below the well. With the nonlinearity read = Q (1 + alpha Q) and Q = r t, the first-difference
rate is d = r + alpha r^2 (t_0 + t_1), so r = linearise(d, alpha, t_0 + t_1) and the last sample
reads f(r t_last) = r t_last (1 + alpha r t_last). A pixel is saturated when that projection,
less ``nsigma`` times its noise (the difference's noise x t_last), reaches the well. Its rate
becomes the first-difference rate d (still nonlinear: mips24_linearity knows which pixels were
substituted) and its error the difference's error.

A cosmic ray between the first two samples makes the difference large too, so a candidate must
also pass a consistency check: the measured on-board slope must be at least ``consistency`` times
the slope of a ramp at the difference rate clipped at the well (a hit adds only a small fraction
of its charge to the least-squares slope, a saturated ramp keeps most of its early rise).
"""

from __future__ import annotations

import numpy as np


def linearise(m: np.ndarray, alpha: np.ndarray, k: float | np.ndarray) -> np.ndarray:
    """r with r + alpha r^2 k = m (the root near m); m where alpha == 0, NaN past the turnover."""
    m = np.asarray(m, np.float64)
    a = np.asarray(alpha, np.float64) * k
    disc = 1.0 + 4.0 * a * m
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.where(disc >= 0, (np.sqrt(np.maximum(disc, 0.0)) - 1.0) / np.where(a != 0, 2.0 * a, 1.0),
                        np.nan)
    return np.where(a == 0, m, root)


def saturated(diff: np.ndarray, diff_err: np.ndarray, alpha: np.ndarray, well: np.ndarray,
              times: np.ndarray, nsigma: float = 3.0) -> np.ndarray:
    """Pixels whose last sample reached the well, judged from the first-difference rate."""
    t0, t1, tl = float(times[0]), float(times[1]), float(times[-1])
    rate = linearise(diff, alpha, t0 + t1)
    rate = np.where(np.isfinite(rate), rate, np.inf)
    q = rate * tl
    projected = q * (1.0 + np.asarray(alpha, np.float64) * q)
    projected = np.where(np.isfinite(projected), projected, np.inf)
    return projected - nsigma * np.asarray(diff_err, np.float64) * tl >= well


def hard_saturated(diff: np.ndarray, alpha: np.ndarray, well: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Pixels whose second sample already reached the well: the difference is no estimate either."""
    t0, t1 = float(times[0]), float(times[1])
    rate = linearise(diff, alpha, t0 + t1)
    q = np.where(np.isfinite(rate), rate, np.inf) * t1
    with np.errstate(invalid="ignore"):
        return ~(q * (1.0 + np.asarray(alpha, np.float64) * q) < well)


def expected_slope(rate: np.ndarray, alpha: np.ndarray, well: np.ndarray, times: np.ndarray) -> np.ndarray:
    """On-board least-squares slope [DN/s] of the ramp min(Q (1 + alpha Q), well), Q = rate t."""
    d = times - times.mean()
    weights = d / (d * d).sum()
    q = np.asarray(rate, np.float64)[None] * times[:, None, None] if np.ndim(rate) == 2 else \
        np.multiply.outer(times, np.asarray(rate, np.float64))
    reads = np.minimum(q * (1.0 + np.asarray(alpha, np.float64) * q), well)
    return np.tensordot(weights, reads, axes=1)


def consistent(slope: np.ndarray, diff: np.ndarray, alpha: np.ndarray, well: np.ndarray, times: np.ndarray,
               consistency: float = 0.8) -> np.ndarray:
    """Measured slope >= consistency x the slope a saturated ramp at the difference rate would give."""
    t0, t1 = float(times[0]), float(times[1])
    rate = linearise(diff, alpha, t0 + t1)
    rate = np.where(np.isfinite(rate), rate, 0.0)
    return np.asarray(slope, np.float64) >= consistency * expected_slope(rate, alpha, well, times)
