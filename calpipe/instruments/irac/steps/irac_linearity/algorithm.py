"""Quadratic non-linearity of a Fowler-sampled frame, corrected exactly.

Each read measures Q_m = Q (1 + α Q) of the linear charge Q = r t [DN] since
reset. With read i of the pedestal at t_i = (δ + i − 1) τ and its signal partner
at t_i + (W + N) τ, the frame holds the mean read difference

    D_m = mean_i[Q_m(t_i + (W+N)τ)] − mean_i[Q_m(t_i)]
        = D + α r² [mean_i (t_i + (W+N)τ)² − mean_i t_i²]
        = D + α r² (W+N)τ · ((W+N)τ + 2 mean_i t_i)
        = D + α k D²,   k = (W + 2N − 1 + 2δ) / (W + N),

with D = r (W+N) τ the linear difference wanted. The correction taken from the
difference alone (k = 1) would be too small: the reads of a Fowler pair sit
higher on the curve than their difference says, more so the larger N is against
W. The quadratic inverts in closed form, written without cancellation:

    D = 2 D_m / (1 + sqrt(1 + 4 α k D_m)),   dD/dD_m = 1 / sqrt(1 + 4 α k D_m).

Where 1 + 4 α k D_m <= 0 (beyond the turnover of the quadratic) or α is not
finite, the value is left and flagged NO_LIN_CORR.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Linearized(NamedTuple):
    data: np.ndarray  # float32
    slope: np.ndarray  # dD/dD_m (1 where not corrected), scales the uncertainty
    uncorrected: np.ndarray  # bool


def fowler_factor(nfowler: int, wait: int, first_read: float = 1.0) -> float:
    """k = (W + 2N − 1 + 2δ) / (W + N): how much higher on the curve the reads sit than their difference."""
    return (wait + 2 * nfowler - 1 + 2 * first_read) / (wait + nfowler)


def forward(linear: np.ndarray, alpha: np.ndarray, k: float) -> np.ndarray:
    """The measured D_m = D + α k D² of a linear difference D: the model the correction inverts."""
    d = np.asarray(linear, np.float64)
    return d + alpha * k * d * d


def linearize(measured: np.ndarray, alpha: np.ndarray, k: float) -> Linearized:
    """D from D_m (see module docstring)."""
    dm = np.asarray(measured, np.float64)
    a = np.asarray(alpha, np.float64)
    with np.errstate(invalid="ignore"):
        disc = 1.0 + 4.0 * a * k * dm
        ok = np.isfinite(a) & np.isfinite(dm) & (disc > 0)
    root = np.sqrt(np.where(ok, disc, 1.0))
    out = np.where(ok, 2.0 * dm / (1.0 + root), dm)
    return Linearized(out.astype(np.float32), 1.0 / root, np.isfinite(dm) & ~ok)
