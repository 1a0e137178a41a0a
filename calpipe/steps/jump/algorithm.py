"""Two-point-difference jump detection for up-the-ramp (MULTIACCUM) data.

The maths, per pixel and integration (all in electrons, e = DN × gain):

* Differences ``d_k = G_k − G_{k−1}`` (k = 1 … ngroups−1) between consecutive groups,
  kept only where both groups are usable: not DO_NOT_USE, SATURATED, DROPOUT or
  AD_FLOOR, finite, and group k not already flagged JUMP_DET (a known jump is
  an outlier already and must not weigh on the statistics).
* Reference level ``μ`` of the usable differences, clipped by the iteration
  below: with 4 or more of them their mean; with 3 the median; with 2 the one
  of smaller |d| (stcal's choices for 3 and 2, for which its 5σ and 6σ
  thresholds were set). Not the median for 4 or more: when read noise
  dominates, consecutive differences share a group and are anti-correlated, a
  high d_k comes with low neighbours and pulls the median down, and
  ``d_k − median`` gets heavy tails. On simulated 10-group ramps the median
  (plain or clipped) gave 2–3e-3 false jumps per pixel at 4σ, the mean 5.1e-4
  (the Gaussian expectation; the acceptance limit is 10 × 6e-5). A jump biases the
  mean only until it is removed, and it is always the largest deviation
  removed first unless jumps hit half the differences.
* Expected variance of one difference, groups being means of ``m = nframes``
  frames ``g = groupgap`` frames apart::

      σ² = |μ| · (1 − (m² − 1) / (3 m (m + g)))  +  2 R_e² / m

  The first term is the Poisson variance of the charge collected between two
  group means: the m frames of two consecutive groups are (m+g) frames apart and
  their intervals overlap, which lowers the variance below the mean count |μ| by
  that factor (1 for RAPID, 0.74 for MEDIUM8). The second is the read noise of
  two group means, R_e = single-frame read noise × gain. Version 1.1.0 adds
  2 (q g)² / 12 for groups digitised in steps of q DN (uint16 raw: q = 1): the
  rounding is ~3 % of a MEDIUM8 difference's read-noise variance, and leaving it
  out raised the false-jump rate at 4σ by ~25 %.
* ``ratio_k = |d_k − μ| / σ``; the largest is a jump if it exceeds the threshold
  for the number n of usable differences left (``rejection_threshold`` for
  n ≥ 4, ``four_group_threshold`` for n = 3, ``three_group_threshold`` for
  n = 2). It is flagged JUMP_DET on group k (the first group after the jump,
  which starts the next ramp segment), removed, and μ, σ and the ratios are
  computed again, until no ratio exceeds its threshold or fewer than 2
  differences remain.
* Neighbours: for a jump whose ratio lies in (``min_jump_for_neighbors``,
  ``max_jump_for_neighbors``) the 4 adjacent pixels get JUMP_DET on the same
  group (charge spreads to them; the largest jumps are left alone as in stcal,
  to keep bright-star snowballs from flagging whole regions), unless that
  group is SATURATED or DO_NOT_USE there.

Pixels whose gain is not positive and finite, or whose read noise is not finite
and non-negative, are not searched. The per-pixel work runs in numba kernels
parallel over detector rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from calpipe.core.models.dqflags import DQ

#: Group DQ bits that make a group unusable for the differences.
EXCLUDED = DQ.DO_NOT_USE | DQ.SATURATED | DQ.DROPOUT | DQ.AD_FLOOR
_JUMP = np.uint8(DQ.JUMP_DET)
_NO_NEIGHBOR = np.uint8(DQ.SATURATED | DQ.DO_NOT_USE)


def poisson_factor(nframes: int, groupgap: int | None) -> float:
    """Var(G_k − G_{k−1}) / mean(G_k − G_{k−1}) for Poisson charge and groups of averaged frames.

    1 (no reduction, as stcal) when ``groupgap`` is None.
    """
    if groupgap is None:
        return 1.0
    m, g = int(nframes), int(groupgap)
    return 1.0 - (m * m - 1.0) / (3.0 * m * (m + g))


def detect_jumps(data: np.ndarray, groupdq: np.ndarray, gain: np.ndarray, readnoise: np.ndarray,
                 nframes: int, rejection_threshold: float = 4.0, three_group_threshold: float = 6.0,
                 four_group_threshold: float = 5.0, flag_neighbors: bool = True,
                 min_jump_for_neighbors: float = 10.0, max_jump_for_neighbors: float = 200.0,
                 groupgap: int | None = None, quantum: float = 0.0) -> np.ndarray:
    """Flag jumps; return a new uint8 group DQ with JUMP_DET on the first group after each jump.

    ``data`` (nints, ngroups, ny, nx) in DN, ``gain`` (ny, nx) in e⁻/DN, ``readnoise``
    (ny, nx) the read noise of one frame in DN, ``nframes``/``groupgap`` the read
    pattern (``groupgap`` refines the Poisson term; None leaves it at the plain
    count, which is conservative for averaged groups). Thresholds are in σ of a
    group difference. ``quantum`` (DN) is the step of digitised groups: each
    difference's variance gains 2 quantum²/12 (the rounding of its two groups).
    The input arrays are not modified.
    """
    if data.ndim != 4:
        raise ValueError(f"ramp data must be 4-D (nints, ngroups, ny, nx), got shape {data.shape}")
    if groupdq.shape != data.shape:
        raise ValueError(f"group DQ shape {groupdq.shape} does not match the data's {data.shape}")
    for name, arr in (("gain", gain), ("readnoise", readnoise)):
        if arr.shape != data.shape[-2:]:
            raise ValueError(f"{name} shape {arr.shape} does not match the data's {data.shape[-2:]}")
    if int(nframes) < 1 or (groupgap is not None and int(groupgap) < 0):
        raise ValueError(f"bad read pattern: nframes={nframes}, groupgap={groupgap}")
    if not quantum >= 0:
        raise ValueError(f"quantum must be >= 0, got {quantum}")
    for name, value in (("rejection_threshold", rejection_threshold),
                        ("three_group_threshold", three_group_threshold),
                        ("four_group_threshold", four_group_threshold)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")

    out = np.array(groupdq, dtype=np.uint8, order="C", copy=True)
    nints, ngroups, ny, _ = data.shape
    if ngroups < 3:  # two groups give one difference: nothing to compare it with
        return out
    # Jumps whose neighbours are to be flagged; only written where such a jump is found.
    big = np.zeros(data.shape if flag_neighbors else (1, 1, 1, 1), dtype=np.bool_)
    row_big = np.zeros((nints, ny), dtype=np.bool_)
    _find_jumps(np.ascontiguousarray(data, dtype=np.float32), out,
                np.ascontiguousarray(gain, dtype=np.float32),
                np.ascontiguousarray(readnoise, dtype=np.float32),
                float(nframes), poisson_factor(nframes, groupgap),
                float(rejection_threshold), float(four_group_threshold), float(three_group_threshold),
                bool(flag_neighbors), float(min_jump_for_neighbors), float(max_jump_for_neighbors),
                big, row_big, 2.0 * float(quantum) ** 2 / 12.0)
    if flag_neighbors and row_big.any():
        _flag_neighbors(out, big, row_big)
    return out


@njit(cache=True, nogil=True)
def _center(diffs, ok, n):
    """Reference level of the n usable differences (see the module docstring)."""
    if n >= 4:
        total = 0.0
        for k in range(diffs.shape[0]):
            if ok[k]:
                total += diffs[k]
        return total / n
    a = 0.0
    b = 0.0
    c = 0.0
    j = 0
    for k in range(diffs.shape[0]):
        if ok[k]:
            if j == 0:
                a = diffs[k]
            elif j == 1:
                b = diffs[k]
            else:
                c = diffs[k]
            j += 1
    if n == 2:
        return a if abs(a) <= abs(b) else b
    return max(min(a, b), min(max(a, b), c))  # median of three


@njit(cache=True, parallel=True, nogil=True)
def _find_jumps(data, out, gain, readnoise, nframes, pfactor, thr_normal, thr_four, thr_three,
                flag_neighbors, min_nb, max_nb, big, row_big, qvar2):
    """Iterative two-point-difference search; ORs JUMP_DET into ``out`` in place."""
    nints, ngroups, ny, nx = data.shape
    ndiff = ngroups - 1
    for row in prange(nints * ny):
        i = row // ny
        y = row % ny
        diffs = np.empty(ndiff, dtype=np.float64)
        ok = np.empty(ndiff, dtype=np.bool_)
        for x in range(nx):
            g = gain[y, x]
            rn = readnoise[y, x]
            if not (g > 0.0 and np.isfinite(g) and rn >= 0.0 and np.isfinite(rn)):
                continue
            rn_term = 2.0 * (rn * g) ** 2 / nframes + qvar2 * g * g
            n = 0
            prev = data[i, 0, y, x]
            prev_ok = (out[i, 0, y, x] & EXCLUDED) == 0 and np.isfinite(prev)
            for k in range(1, ngroups):
                cur = data[i, k, y, x]
                q = out[i, k, y, x]
                cur_ok = (q & EXCLUDED) == 0 and np.isfinite(cur)
                good = prev_ok and cur_ok and (q & _JUMP) == 0
                ok[k - 1] = good
                if good:
                    diffs[k - 1] = (cur - prev) * g
                    n += 1
                prev = cur
                prev_ok = cur_ok
            while n >= 2:
                med = _center(diffs, ok, n)
                var = abs(med) * pfactor + rn_term
                if not var > 0.0:
                    break
                kmax = -1
                dev_max = -1.0
                for k in range(ndiff):
                    if ok[k]:
                        dev = abs(diffs[k] - med)
                        if dev > dev_max:
                            dev_max = dev
                            kmax = k
                ratio = dev_max / np.sqrt(var)
                if n >= 4:
                    thr = thr_normal
                elif n == 3:
                    thr = thr_four
                else:
                    thr = thr_three
                if not ratio > thr:
                    break
                out[i, kmax + 1, y, x] |= _JUMP
                ok[kmax] = False
                n -= 1
                if flag_neighbors and min_nb < ratio < max_nb:
                    big[i, kmax + 1, y, x] = True
                    row_big[i, y] = True


@njit(cache=True, parallel=True, nogil=True)
def _flag_neighbors(out, big, row_big):
    """JUMP_DET on the 4 neighbours of each jump in ``big`` (not on SATURATED/DO_NOT_USE groups)."""
    nints, ngroups, ny, nx = out.shape
    for row in prange(nints * ny):
        i = row // ny
        y = row % ny
        above = y + 1 < ny and row_big[i, y + 1]
        below = y > 0 and row_big[i, y - 1]
        here = row_big[i, y]
        if not (above or below or here):
            continue
        for k in range(1, ngroups):
            for x in range(nx):
                vertical = (above and big[i, k, y + 1, x]) or (below and big[i, k, y - 1, x])
                beside = here and ((x > 0 and big[i, k, y, x - 1]) or (x + 1 < nx and big[i, k, y, x + 1]))
                if (vertical or beside) and (out[i, k, y, x] & _NO_NEIGHBOR) == 0:
                    out[i, k, y, x] |= _JUMP
