"""Muxbleed of the InSb arrays (channels 1-2).

After reading a bright pixel, an output FET recovers slowly: the pixels its
readout channel reads next (every 4th column of the same row, then on into the
following rows) get an excess (IRAC Instrument Handbook §5.1.11)

    log10 I(n) [DN] = 3.188 − 2.497 x + 1.201 x² − 0.244 x³,  x = log10(n + 1),

n the number of pixels read by that channel since the bleeding pixel (n = 0).
The severity grows with the bleeding pixel's value B: the trail is taken as
I(n) · B / ``reference_dn`` (I(n) is the trail of a pixel at reference_dn).
A pixel bleeds because of its own light, not of the bleed it received, so the
trail of several bright pixels is the sum of theirs: a convolution of B / ref
(over the pixels with B > ``threshold``) with I(n ≥ 1) along each channel's
readout sequence. B is the pixel's value without the trail it received itself
(found by iterating until the set of bleeding pixels and their values settle).
"""

from __future__ import annotations

import numpy as np

from ..readout import NREADOUT

COEFFS = (3.188, -2.497, 1.201, -0.244)


def law(n: np.ndarray, coeffs: tuple[float, ...] = COEFFS) -> np.ndarray:
    """I(n) [DN] of the handbook's cubic in x = log10(n + 1)."""
    x = np.log10(np.asarray(n, np.float64) + 1.0)
    return 10.0 ** np.polynomial.polynomial.polyval(x, coeffs)


def trail(weights: np.ndarray, coeffs: tuple[float, ...] = COEFFS, x0: int = 0) -> np.ndarray:
    """Σ_j w_j I(n_j) with n_j ≥ 1 the readout distance from bleeding pixel j (float64, same shape).

    ``weights`` is B / reference_dn at bleeding pixels and 0 elsewhere.
    """
    out = np.zeros(weights.shape, np.float64)
    for c in range(NREADOUT):
        cols = slice((c - x0) % NREADOUT, weights.shape[1], NREADOUT)
        seq = weights[:, cols].astype(np.float64).ravel()
        if not seq.any():
            continue
        length = seq.size
        kernel = law(np.arange(length), coeffs)
        kernel[0] = 0.0  # the bleeding pixel itself is not changed
        size = 1 << int(np.ceil(np.log2(2 * length)))
        conv = np.fft.irfft(np.fft.rfft(seq, size) * np.fft.rfft(kernel, size), size)[:length]
        first = int(np.flatnonzero(seq)[0])
        conv[:first + 1] = 0.0  # exactly nothing before the first bleeding pixel's trail (FFT round-off)
        out[:, cols] = conv.reshape(weights.shape[0], -1)
    return out


def remove(data: np.ndarray, threshold: float, reference_dn: float, coeffs: tuple[float, ...] = COEFFS,
           x0: int = 0, max_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(corrected float32, predicted trail float64) of one InSb frame."""
    value = np.array(data, np.float64)
    predicted = np.zeros(value.shape)
    for _ in range(max_iter):
        own = value - predicted
        with np.errstate(invalid="ignore"):
            weights = np.where(np.isfinite(own) & (own > threshold), own / reference_dn, 0.0)
        again = trail(weights, coeffs, x0)
        change = np.max(np.abs(again - predicted)) if again.size else 0.0
        predicted = again
        if change < 1e-6:
            break
    return (value - predicted).astype(np.float32), predicted
