"""Electronic nonlinearity of the 24 um array, inverted exactly on slopes.

A sample reads F = Q (1 + alpha Q) for the charge Q = r t (alpha < 0). The least-squares slope of
F over samples t_0 .. t_last is exactly m = r + alpha r^2 (t_0 + t_last) (the regression of t^2
on t has slope t_0 + t_last), and a first difference over t_0, t_1 gives m = r + alpha r^2 (t_0 +
t_1). So r = (sqrt(1 + 4 alpha K m) - 1) / (2 alpha K) with K = t_0 + t_last for slopes and
t_0 + t_1 for substituted pixels; errors scale by dr/dm = 1 / sqrt(1 + 4 alpha K m).
"""

from __future__ import annotations

import numpy as np

from ..mips24_saturation.algorithm import linearise


def correct(data: np.ndarray, err: np.ndarray, alpha: np.ndarray,
            k: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rate, err, bad): linearised rates, scaled errors (float32), pixels past the turnover."""
    rate = linearise(data, alpha, k)
    disc = 1.0 + 4.0 * np.asarray(alpha, np.float64) * k * np.asarray(data, np.float64)
    bad = ~np.isfinite(rate) | ~np.isfinite(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(disc > 0, 1.0 / np.sqrt(np.maximum(disc, 1e-300)), 1.0)
    out = np.where(bad, data, rate).astype(np.float32)
    return out, (np.asarray(err, np.float64) * np.where(bad, 1.0, scale)).astype(np.float32), bad
