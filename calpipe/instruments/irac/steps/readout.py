"""How an IRAC frame is read out: the facts several steps share (pure numpy, no framework).

A frame is Fowler-sampled: N pedestal reads right after reset, W wait ticks, N
signal reads, one read per TICK = 0.2 s. Read i (1-based) of the pedestal is at
(δ + i − 1) ticks after reset and its signal partner W + N ticks later, so
EXPTIME = TICK (W + N) and FRAMTIME = TICK (W + 2N) (δ = 1: the first read one
tick after reset). On board the N differences are summed, shifted right by
ABARREL bits and kept in 16 bits, so one stored unit is 2^ABARREL / N DN of the
mean read difference ("DN per frame"). Four readout channels each read every
fourth column (column mod 4); each reads its pixels row by row, along +x within
a row, rows in increasing y.
"""

from __future__ import annotations

import numpy as np

TICK = 0.2  # s per read
NREADOUT = 4  # readout channels: column mod 4
WORD = 65536  # 16-bit words
INSB = (1, 2)  # channels read by InSb arrays (sign-inverted, muxbleed)


def is_insb(channel: int) -> bool:
    return channel in INSB


def dn_per_word(barrel: int, nfowler: int) -> float:
    """DN per frame represented by one stored unit: 2^ABARREL / N."""
    return float(2**barrel) / nfowler


def wrap_period(barrel: int, nfowler: int) -> float:
    """DN per frame after which the 16-bit word wraps: 65536 · 2^ABARREL / N."""
    return WORD * dn_per_word(barrel, nfowler)


def poisson_factor(nfowler: int, wait: int) -> float:
    """Variance of a Fowler difference over its mean for Poisson charge, 1 − (N² − 1) / (3N(W + N)).

    The difference weights charge arriving during the pedestal and signal reads
    by a ramp from 0 to 1 (Garnett & Forrest 1993), so it is less noisy than the
    same charge counted once.
    """
    return 1.0 - (nfowler * nfowler - 1.0) / (3.0 * nfowler * (wait + nfowler))


def frame_variance(dn: np.ndarray, gain: float, readnoise: float, nfowler: int, wait: int,
                   barrel: int) -> np.ndarray:
    """Variance [DN²] of a Fowler-normalised frame value ``dn`` [DN per frame].

    Read noise RONOISE [e⁻] is that of the whole Fowler difference; Poisson noise
    of the positive signal scaled by ``poisson_factor``; plus quantisation: each
    of the 2N reads rounded to 1 DN, 2N/12 / N², and the barrel shift's
    truncation, uniform over 2^B sum units, ((4^B − 1)/12) / N².
    """
    rn = readnoise / gain
    quant = (2.0 * nfowler + 4.0**barrel - 1.0) / 12.0 / (nfowler * nfowler)
    signal = np.clip(np.nan_to_num(np.asarray(dn, np.float64)), 0.0, None)
    return rn * rn + quant + poisson_factor(nfowler, wait) * signal / gain


def readout_columns(nx: int, channel: int, x0: int = 0) -> slice:
    """Columns of the data read by readout channel ``channel`` (0-3); ``x0`` = first full-frame column."""
    return slice((channel - x0) % NREADOUT, nx, NREADOUT)
