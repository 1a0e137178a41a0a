"""Reference-pixel correction of full-frame ramps.

The geometry (border width, amplifier width) is the instrument's: the step
takes it from the instrument plugin (``Instrument.reference_pixels``).
The outer ``nref`` rows and columns see no light, only the electronics: the
top and bottom rows give each amplifier's offset per group (odd and even
columns apart, as they go through different paths), the left and right
columns give the row-to-row drift the amplifiers share (1/f noise).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def clipped_mean(x: np.ndarray, valid: np.ndarray | None = None, nsigma: float = 3.0,
                 maxiter: int = 5) -> np.ndarray:
    """Mean over the last axis, iteratively excluding values more than ``nsigma`` std from the mean.

    ``valid`` (broadcastable to ``x``) excludes values from the start; NaNs are
    excluded too. Where nothing is left the result is 0 (no correction).
    """
    x = np.asarray(x, np.float64)
    keep = np.isfinite(x) if valid is None else (np.isfinite(x) & valid)

    def stats(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = keep.sum(-1, keepdims=True)
        mean = np.where(keep, x, 0.0).sum(-1, keepdims=True) / np.maximum(n, 1)
        var = (np.where(keep, x - mean, 0.0) ** 2).sum(-1, keepdims=True) / np.maximum(n, 1)
        return n, mean, np.sqrt(var)

    for _ in range(maxiter):
        _, mean, std = stats(keep)
        new = keep & (np.abs(x - mean) <= nsigma * std)
        if np.array_equal(new, keep):
            break
        keep = new
    n, mean, _ = stats(keep)
    return np.where(n > 0, mean, 0.0)[..., 0]


def running_median(x: np.ndarray, length: int) -> np.ndarray:
    """Median over a centred window of ``length`` (odd) samples along the last axis.

    Near the ends the window is truncated rather than padded, so no invented
    values enter. NaNs are ignored.
    """
    half = length // 2
    n = x.shape[-1]
    nanmedian = np.nanmedian if np.isnan(x).any() else np.median
    out = np.empty(x.shape, np.float64)
    if n >= length:
        out[..., half:n - half] = nanmedian(sliding_window_view(x, length, axis=-1), axis=-1)
        edges = [*range(half), *range(n - half, n)]
    else:
        edges = list(range(n))
    for i in edges:
        out[..., i] = nanmedian(x[..., max(0, i - half):i + half + 1], axis=-1)
    return out


def amplifier_offsets(data: np.ndarray, bad: np.ndarray, amp_width: int, nref: int, odd_even: bool,
                      nsigma: float = 3.0) -> np.ndarray:
    """Per-column offsets (nints, ngroups, X): clipped mean of the top and bottom reference rows.

    The ``2 nref`` rows are pooled; each amplifier (``amp_width`` columns) gets
    one value, or one for its even and one for its odd columns (counted from
    the amplifier's first column) when ``odd_even``.
    """
    ny, nx = data.shape[-2:]
    lead = data.shape[:-2]
    namp, npar = nx // amp_width, (2 if odd_even else 1)
    per_parity = amp_width // npar
    rows = np.concatenate([data[..., :nref, :], data[..., ny - nref:, :]], axis=-2)  # (..., R, X)
    ok = ~np.concatenate([bad[:nref], bad[ny - nref:]], axis=0)  # (R, X)
    # columns a*amp_width + npar*j + p  ->  (amplifier a, parity p, samples over rows R and j)
    rows = rows.reshape(*lead, 2 * nref, namp, per_parity, npar)
    rows = np.moveaxis(rows, -4, -2).swapaxes(-1, -3).reshape(*lead, namp, npar, 2 * nref * per_parity)
    ok = np.moveaxis(ok.reshape(2 * nref, namp, per_parity, npar), 0, -2).swapaxes(-1, -3)
    offsets = clipped_mean(rows, ok.reshape(namp, npar, 2 * nref * per_parity), nsigma)  # (..., A, P)
    return np.broadcast_to(offsets[..., None, :], (*lead, namp, per_parity, npar)).reshape(*lead, nx)


def side_drift(data: np.ndarray, bad: np.ndarray, nref: int, smoothing: int) -> np.ndarray:
    """Row drift (nints, ngroups, Y): running median of the mean of the left and right reference columns."""
    nx = data.shape[-1]
    cols = np.concatenate([data[..., :nref], data[..., nx - nref:]], axis=-1)  # (..., Y, 2 nref)
    ok = ~np.concatenate([bad[:, :nref], bad[:, nx - nref:]], axis=-1)
    n = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):  # rows with no good column: NaN, skipped below
        mean = np.where(ok, cols, 0.0).sum(-1, dtype=np.float64) / n
    drift = running_median(mean, smoothing)
    return np.nan_to_num(drift, nan=0.0)


def correct_refpix(data: np.ndarray, bad: np.ndarray | None = None, *, amp_width: int,
                   nref: int, odd_even: bool = True, use_side: bool = True, side_smoothing: int = 11,
                   side_gain: float = 1.0, nsigma: float = 3.0) -> None:
    """Correct ramps ``data`` (nints, ngroups, Y, X) that include the reference border, in place.

    First, per integration, group and amplifier, the clipped mean of the top
    and bottom reference rows (odd/even columns apart) is subtracted from all
    that amplifier's columns. Then the mean of the left and right reference
    columns, smoothed by a running median over ``side_smoothing`` rows, is
    subtracted (× ``side_gain``) from every pixel of its row. ``bad`` (Y, X)
    marks reference pixels to ignore (e.g. BAD_REF_PIXEL). Both corrections
    broadcast over the cube: no 4-D temporary.
    """
    ny, nx = data.shape[-2:]
    if nx % amp_width or (odd_even and amp_width % 2):
        raise ValueError(f"{nx} columns do not split into amplifiers of {amp_width} columns"
                         + (" with odd and even columns" if odd_even else ""))
    if ny < 2 * nref or nx < 2 * nref:
        raise ValueError(f"a {ny}x{nx} frame cannot hold a border of {nref} reference pixels")
    if bad is None:
        bad = np.zeros((ny, nx), bool)
    data -= amplifier_offsets(data, bad, amp_width, nref, odd_even, nsigma)[..., None, :].astype(np.float32)
    if use_side:
        drift = side_drift(data, bad, nref, side_smoothing)
        data -= (side_gain * drift)[..., None].astype(np.float32)
