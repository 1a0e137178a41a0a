"""Optimally weighted up-the-ramp slope fitting (Fixsen et al. 2000, as in JWST/stcal).

The maths, per pixel (DN, seconds; ``R`` the read noise of one frame in DN,
``g`` the gain in e⁻/DN, ``m = nframes``, ``t = group_time``):

* Segments. In each integration the usable groups (not DO_NOT_USE, SATURATED,
  DROPOUT or AD_FLOOR, and finite) form runs; a group flagged JUMP_DET starts a
  new run (the jump happened just before it). A run of n ≥ 2 groups is a
  segment; single groups are not used. When no integration has a segment
  (e.g. saturated from group 0 or 1), the pixel gets DO_NOT_USE (plus SATURATED
  if saturation is the cause) and SCI, ERR and both variances are NaN. We chose
  this over JWST's one-group rate: a single group carries the unknown reset
  level, so its "slope" is not a measurement.
* Slope of a segment of n groups y_0 … y_{n−1} at times x_i = i·t (equal
  spacing; the common offset (m+1)/2 frame times of averaged groups cancels):
  weighted least squares with Fixsen's weights w_i = |(i − c)/c|^P,
  c = (n−1)/2, so ``s = Σ_i a_i y_i / t`` with
  ``a_i = w_i (S0 i − S1) / (S0 S2 − S1²)``, ``Sk = Σ w_i i^k`` (tabulated once
  per (P, n)). P comes from the segment's S/N in electrons,
  ``SN = E / sqrt(E + 2 (g R)² / m)`` with ``E = g (y_{n−1} − y_0)``:
  P = 0 for SN ≤ 5, 0.4 to 10, 1 to 20, 3 to 50, 6 to 100, 10 above (stcal's
  table). P = 0 is the unweighted fit (best when read noise dominates), P = 10
  almost the end points (best when Poisson noise dominates).
* Variances of a segment slope (DN²/s²), exact for the weights actually used::

      var_r = (R² / m) · F2 / t²                  F2 = Σ a_i²
      var_p = r / (g t) · (F1 − κ F2)              F1 = Σ_ij a_i a_j min(i, j)
      κ = (m² − 1) / (6 m (m + gap))               (0 when groupgap is not given)

  R²/m is the read-noise variance of a group mean. For the unweighted fit
  (P = 0) F2 = 12 / (n³ − n), i.e. var_r = 12 R_g² / ((n³ − n) t²) with
  R_g = R/sqrt(m) as in JWST; for the end points (P → ∞) F1 = 1/(n − 1), i.e.
  var_p = r / (g (n − 1) t) as in JWST. In between the tables give the true
  variance of the fitted slope (JWST's two formulas underestimate it by up to
  ~10 % at S/N ≈ 5–20). Groups being means of m frames τ = t/(m + gap) apart,
  a group's Poisson variance is lower than a single read's at the same mean
  time by (rate/g)·τ(m² − 1)/(6m): that is the κ term. ``r`` is the rate
  estimate, common to all segments of the pixel so that the weights below do
  not follow each segment's own noise: the segment slopes averaged with
  weights n³ − n, floored at 0.
* Variance rate (``rate_window`` > 1, step version 1.1.0). A pixel's own rate is
  noisy: where read noise dominates, a variance that follows it is too large
  when the slope scattered up and too small when it scattered down (zero when
  negative), and flooring at 0 biases it up, so pulls fall below 1 on faint sky.
  As optimal-weighting fits do with a smoothed first-pass rate, the Poisson
  variance is taken instead at the median of the first-pass rates over a
  ``rate_window`` square, unless the pixel's own rate differs from that median
  by more than ``rate_clip`` of its σ (a star's core, a hot pixel keep their
  own), floored at 0. One-segment pixels keep their slope; pixels with several
  segments are recombined with that rate. The read-noise variance of a group
  also gains quantum²/12 (DN²): raw groups are rounded to integers on board,
  ~3 % of a MEDIUM8 group's read-noise variance.
* Segments of all integrations are combined by inverse variance,
  ``w_s = 1 / (var_r,s + var_p,s)``, ``slope = Σ w_s s_s / Σ w_s`` (the same as
  combining within integrations, then integrations, by inverse variance). The
  variance parts are propagated exactly: ``VAR_POISSON = Σ w_s² var_p,s / W²``,
  ``VAR_RNOISE = Σ w_s² var_r,s / W²`` with ``W = Σ w_s``, so
  ``ERR² = VAR_POISSON + VAR_RNOISE = 1 / W``. (If both variances are zero, as
  for zero read noise and no positive rate, weights n³ − n are used.)
* DQ = pixeldq | JUMP_DET if any group of any integration is JUMP_DET |
  DO_NOT_USE (and SATURATED) where there is no segment | NO_GAIN_VALUE and
  DO_NOT_USE where the gain is not positive and finite (such pixels are fitted
  with P = 0 and no Poisson variance) | DO_NOT_USE where the read noise is not
  finite and non-negative (fitted as if it were 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from calpipe.core.models.dqflags import DQ

#: Group DQ bits that make a group unusable.
EXCLUDED = DQ.DO_NOT_USE | DQ.SATURATED | DQ.DROPOUT | DQ.AD_FLOOR
#: Fixsen weighting exponents and the S/N above which each applies (stcal's table).
POWERS = np.array([0.0, 0.4, 1.0, 3.0, 6.0, 10.0])
SNR_EDGES = np.array([5.0, 10.0, 20.0, 50.0, 100.0])
_JUMP = DQ.JUMP_DET
_SAT = DQ.SATURATED
_DNU = DQ.DO_NOT_USE
_NO_GAIN = DQ.NO_GAIN_VALUE


class RampFit(NamedTuple):
    slope: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray


class SlopeTables(NamedTuple):
    coef: np.ndarray  # a[p, n, i]: slope per group interval of an n-group segment = Σ_i a_i y_i
    f1: np.ndarray    # F1[p, n] = Σ_ij a_i a_j min(i, j): Poisson variance factor
    f2: np.ndarray    # F2[p, n] = Σ_i a_i²: read-noise variance factor


def slope_tables(ngroups: int) -> SlopeTables:
    """Fit coefficients and variance factors for every exponent P and segment length n ≤ ngroups."""
    coef = np.zeros((len(POWERS), ngroups + 1, ngroups), dtype=np.float64)
    f1 = np.zeros((len(POWERS), ngroups + 1), dtype=np.float64)
    f2 = np.zeros((len(POWERS), ngroups + 1), dtype=np.float64)
    for n in range(2, ngroups + 1):
        i = np.arange(n, dtype=np.float64)
        c = (n - 1) / 2.0
        lower = np.minimum.outer(i, i)
        for p, power in enumerate(POWERS):
            w = np.abs((i - c) / c) ** power  # 0**0 == 1: P = 0 is the unweighted fit
            s0, s1, s2 = w.sum(), (w * i).sum(), (w * i * i).sum()
            a = w * (s0 * i - s1) / (s0 * s2 - s1 * s1)
            coef[p, n, :n] = a
            f1[p, n] = a @ lower @ a
            f2[p, n] = a @ a
    return SlopeTables(coef, f1, f2)


def fit_ramps(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray | None, gain: np.ndarray,
              readnoise: np.ndarray, group_time: float, nframes: int, groupgap: int | None = None,
              rate_window: int = 1, rate_clip: float = 3.0, quantum: float = 0.0) -> RampFit:
    """Slopes in DN/s with their variances and DQ from ramps (nints, ngroups, ny, nx) in DN.

    ``gain`` (ny, nx) e⁻/DN, ``readnoise`` (ny, nx) read noise of one frame in DN,
    ``group_time`` the time between groups (s), ``nframes`` frames averaged per group,
    ``groupgap`` frames dropped between groups (refines the Poisson variance of
    averaged groups; None leaves that small reduction out, which is conservative).
    ``rate_window`` (odd) > 1 takes the Poisson variance at the median rate of that square of
    pixels where the pixel agrees with it within ``rate_clip`` σ (see "Variance rate" above);
    1 uses each pixel's own rate (version 1.0.0), and then ``quantum`` must be 0.
    ``quantum`` (DN) is the step of the digitised groups (1 for uint16 raw data): each group's
    read-noise variance gains quantum²/12, the rounding's (with ``rate_window`` > 1 only).
    """
    if data.ndim != 4:
        raise ValueError(f"ramp data must be 4-D (nints, ngroups, ny, nx), got shape {data.shape}")
    if groupdq.shape != data.shape:
        raise ValueError(f"group DQ shape {groupdq.shape} does not match the data's {data.shape}")
    image = data.shape[-2:]
    if pixeldq is None:
        pixeldq = np.zeros(image, dtype=np.uint32)
    for name, arr in (("pixel DQ", pixeldq), ("gain", gain), ("readnoise", readnoise)):
        if arr.shape != image:
            raise ValueError(f"{name} shape {arr.shape} does not match the data's {image}")
    if not (np.isfinite(group_time) and group_time > 0):
        raise ValueError(f"group time must be positive, got {group_time}")
    if rate_window < 1 or rate_window % 2 == 0 or not rate_clip > 0:
        raise ValueError(f"rate_window must be odd and positive and rate_clip > 0, got {rate_window}, "
                         f"{rate_clip}")
    if not quantum >= 0 or (rate_window == 1 and quantum != 0):
        raise ValueError(f"quantum must be >= 0 (and 0 with rate_window 1), got {quantum}")
    if int(nframes) < 1 or (groupgap is not None and int(groupgap) < 0):
        raise ValueError(f"bad read pattern: nframes={nframes}, groupgap={groupgap}")
    m = int(nframes)
    kappa = 0.0 if groupgap is None else (m * m - 1.0) / (6.0 * m * (m + int(groupgap)))
    tables = slope_tables(data.shape[1])

    slope = np.empty(image, dtype=np.float32)
    err = np.empty(image, dtype=np.float32)
    var_p = np.empty(image, dtype=np.float32)
    var_r = np.empty(image, dtype=np.float32)
    dq = np.array(pixeldq, dtype=np.uint32, order="C", copy=True)
    args = (np.ascontiguousarray(data, dtype=np.float32), np.ascontiguousarray(groupdq, dtype=np.uint8),
            np.ascontiguousarray(gain, dtype=np.float32), np.ascontiguousarray(readnoise, dtype=np.float32),
            float(group_time), float(m), kappa, tables.coef, tables.f1, tables.f2, SNR_EDGES)
    if rate_window == 1:
        _fit_kernel(*args, slope, err, dq, var_p, var_r)
        return RampFit(slope, err, dq, var_p, var_r)
    rate = np.empty(image, dtype=np.float64)
    var_r1 = np.empty(image, dtype=np.float64)
    pcoef = np.empty(image, dtype=np.float64)
    nsegs = np.empty(image, dtype=np.int64)
    qvar = float(quantum) ** 2 / 12.0
    _first_pass(*args, qvar, rate, var_r1, pcoef, nsegs, dq)
    vrate = np.empty(image, dtype=np.float64)
    _variance_rate(rate, var_r1, pcoef, rate_window // 2, float(rate_clip), sorting_network(rate_window**2),
                   vrate)
    _second_pass(*args, qvar, rate, var_r1, pcoef, nsegs, vrate, slope, err, var_p, var_r)
    return RampFit(slope, err, dq, var_p, var_r)


@njit(cache=True, nogil=True)
def _segments(data, gdq, y, x, g, rn_diff_e2, tgroup, coef, snr_edges, ramp, seg_slope, seg_n, seg_p):
    """Fit every segment of pixel (y, x): fills seg_*; returns (count, any group JUMP_DET, any SATURATED)."""
    nints, ngroups = data.shape[0], data.shape[1]
    npow = snr_edges.shape[0]
    any_jump = False
    any_sat = False
    nseg = 0
    for i in range(nints):
        start = -1
        for k in range(ngroups + 1):
            if k < ngroups:
                q = gdq[i, k, y, x]
                v = data[i, k, y, x]
                ramp[k] = v
                jump = (q & _JUMP) != 0
                any_jump = any_jump or jump
                any_sat = any_sat or (q & _SAT) != 0
                usable = (q & EXCLUDED) == 0 and np.isfinite(v)
            else:  # sentinel: closes the last run
                jump = False
                usable = False
            if start >= 0 and (not usable or jump):
                n = k - start
                if n >= 2:
                    e = g * (ramp[k - 1] - ramp[start])
                    p = 0
                    if e > 0.0:
                        snr = e / np.sqrt(e + rn_diff_e2)
                        while p < npow and snr > snr_edges[p]:
                            p += 1
                    s = 0.0
                    for j in range(n):
                        s += coef[p, n, j] * ramp[start + j]
                    seg_slope[nseg] = s / tgroup
                    seg_n[nseg] = n
                    seg_p[nseg] = p
                    nseg += 1
                start = -1
            if usable and start < 0:
                start = k
    return nseg, any_jump, any_sat


@njit(cache=True, nogil=True)
def _pixel_constants(gain, readnoise, y, x, nframes, qvar):
    """(flags, gain or 0, gain usable, read-noise variance of a group DN², of a group difference e²).

    ``qvar`` (DN²) is added to each group's variance: the rounding of digitised groups."""
    g = gain[y, x]
    rn = readnoise[y, x]
    flags = 0
    gain_ok = g > 0.0 and np.isfinite(g)
    if not gain_ok:
        flags |= _NO_GAIN | _DNU
        g = 0.0
    if not (rn >= 0.0 and np.isfinite(rn)):
        flags |= _DNU
        rn = 0.0
    rn_grp2 = rn * rn / nframes + qvar
    return flags, g, gain_ok, rn_grp2, 2.0 * g * g * rn_grp2


@njit(cache=True, nogil=True)
def _combine(nseg, seg_slope, seg_n, seg_p, rate, g, gain_ok, rn_grp2, tgroup, kappa, f1, f2):
    """Inverse-variance combination of the segments for Poisson rate ``rate``: (slope, var_p, var_r)."""
    wsum = 0.0
    wslope = 0.0
    wvp = 0.0
    wvr = 0.0
    for s_i in range(nseg):
        n = seg_n[s_i]
        p = seg_p[s_i]
        vr = rn_grp2 * f2[p, n] / (tgroup * tgroup)
        vp = rate / (g * tgroup) * (f1[p, n] - kappa * f2[p, n]) if gain_ok else 0.0
        vt = vr + vp
        w = 1.0 / vt if vt > 0.0 else float(n * n * n - n)
        wsum += w
        wslope += w * seg_slope[s_i]
        wvp += w * w * vp
        wvr += w * w * vr
    return wslope / wsum, wvp / (wsum * wsum), wvr / (wsum * wsum)


@njit(cache=True, parallel=True, nogil=True)
def _fit_kernel(data, gdq, gain, readnoise, tgroup, nframes, kappa, coef, f1, f2, snr_edges,
                slope, err, dq, var_p, var_r):
    """Per-pixel segment search, fit and combination with the pixel's own rate (version 1.0.0)."""
    nints, ngroups, ny, nx = data.shape
    maxseg = nints * (ngroups // 2) + 1
    nan = np.float32(np.nan)
    for y in prange(ny):
        ramp = np.empty(ngroups, dtype=np.float64)
        seg_slope = np.empty(maxseg, dtype=np.float64)
        seg_n = np.empty(maxseg, dtype=np.int64)
        seg_p = np.empty(maxseg, dtype=np.int64)
        for x in range(nx):
            flags, g, gain_ok, rn_grp2, rn_diff_e2 = _pixel_constants(gain, readnoise, y, x, nframes, 0.0)
            nseg, any_jump, any_sat = _segments(data, gdq, y, x, g, rn_diff_e2, tgroup, coef, snr_edges,
                                                ramp, seg_slope, seg_n, seg_p)
            if any_jump:
                flags |= _JUMP
            if nseg == 0:
                flags |= _DNU
                if any_sat:
                    flags |= _SAT
                slope[y, x] = nan
                err[y, x] = nan
                var_p[y, x] = nan
                var_r[y, x] = nan
                dq[y, x] |= flags
                continue
            # Rate for the Poisson variance: segments weighted by n³ − n (∝ 1/var_r).
            num = 0.0
            den = 0.0
            for s_i in range(nseg):
                n = seg_n[s_i]
                wr = float(n * n * n - n)
                num += wr * seg_slope[s_i]
                den += wr
            rate = max(num / den, 0.0)
            s, vp_tot, vr_tot = _combine(nseg, seg_slope, seg_n, seg_p, rate, g, gain_ok, rn_grp2, tgroup,
                                         kappa, f1, f2)
            slope[y, x] = s
            var_p[y, x] = vp_tot
            var_r[y, x] = vr_tot
            err[y, x] = np.sqrt(vp_tot + vr_tot)
            dq[y, x] |= flags


@njit(cache=True, parallel=True, nogil=True)
def _first_pass(data, gdq, gain, readnoise, tgroup, nframes, kappa, coef, f1, f2, snr_edges, qvar,
                rate, var_r1, pcoef, nsegs, dq):
    """Each pixel's own rate (segments weighted by n³ − n, not floored) and its variance factors.

    ``var_r1`` is the read-noise variance of that rate and ``pcoef`` its Poisson variance per unit
    rate, so var = var_r1 + pcoef · r; for a one-segment pixel they are the final fit's exactly.
    """
    nints, ngroups, ny, nx = data.shape
    maxseg = nints * (ngroups // 2) + 1
    nan = np.float32(np.nan)
    for y in prange(ny):
        ramp = np.empty(ngroups, dtype=np.float64)
        seg_slope = np.empty(maxseg, dtype=np.float64)
        seg_n = np.empty(maxseg, dtype=np.int64)
        seg_p = np.empty(maxseg, dtype=np.int64)
        for x in range(nx):
            flags, g, gain_ok, rn_grp2, rn_diff_e2 = _pixel_constants(gain, readnoise, y, x, nframes, qvar)
            nseg, any_jump, any_sat = _segments(data, gdq, y, x, g, rn_diff_e2, tgroup, coef, snr_edges,
                                                ramp, seg_slope, seg_n, seg_p)
            nsegs[y, x] = nseg
            if any_jump:
                flags |= _JUMP
            if nseg == 0:
                flags |= _DNU
                if any_sat:
                    flags |= _SAT
                rate[y, x] = nan
                var_r1[y, x] = nan
                pcoef[y, x] = nan
                dq[y, x] |= flags
                continue
            if nseg == 1:
                n, p = seg_n[0], seg_p[0]
                rate[y, x] = seg_slope[0]
                var_r1[y, x] = rn_grp2 * f2[p, n] / (tgroup * tgroup)
                pcoef[y, x] = (f1[p, n] - kappa * f2[p, n]) / (g * tgroup) if gain_ok else 0.0
                dq[y, x] |= flags
                continue
            num = 0.0
            den = 0.0
            vr = 0.0
            pc = 0.0
            for s_i in range(nseg):
                n, p = seg_n[s_i], seg_p[s_i]
                wr = float(n * n * n - n)
                num += wr * seg_slope[s_i]
                den += wr
                vr += wr * wr * rn_grp2 * f2[p, n] / (tgroup * tgroup)
                if gain_ok:
                    pc += wr * wr * (f1[p, n] - kappa * f2[p, n]) / (g * tgroup)
            rate[y, x] = num / den
            var_r1[y, x] = vr / (den * den)
            pcoef[y, x] = pc / (den * den)
            dq[y, x] |= flags


def sorting_network(n: int) -> np.ndarray:
    """Compare-exchange pairs (i, j), i < j, of Batcher's odd-even merge sort for n values (padded to 2^p).

    A fixed network sorts without data-dependent branches: on a 5×5 window it is ~8× faster than
    a quickselect, whose branches the CPU cannot predict.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@njit(cache=True, parallel=True, nogil=True)
def _variance_rate(rate, var_r1, pcoef, half, clip, network, out):
    """The rate the Poisson variance uses: the local median of the first-pass rates (within
    ``half`` pixels) where the pixel's own rate agrees with it within ``clip`` σ, else its own
    (a source's core, a hot pixel); floored at 0. ``network``: sorting_network of the window,
    applied to a whole row of windows at once (the inner loop over columns vectorises)."""
    ny, nx = rate.shape
    size = 1
    while size < (2 * half + 1) ** 2:
        size *= 2
    for y in prange(ny):
        buf = np.full((size, nx), np.inf)  # missing values sort last
        count = np.zeros(nx, dtype=np.int64)
        for yy in range(max(0, y - half), min(ny, y + half + 1)):
            for x in range(nx):
                k = count[x]
                for xx in range(max(0, x - half), min(nx, x + half + 1)):
                    v = rate[yy, xx]
                    if np.isfinite(v):
                        buf[k, x] = v
                        k += 1
                count[x] = k
        for c in range(network.shape[0]):
            lo = buf[network[c, 0]]
            hi = buf[network[c, 1]]
            for x in range(nx):
                a, b = lo[x], hi[x]
                lo[x] = a if a < b else b
                hi[x] = b if a < b else a
        for x in range(nx):
            r = rate[y, x]
            if not np.isfinite(r):
                out[y, x] = np.nan
                continue
            k = count[x]
            med = buf[k // 2, x] if k % 2 == 1 else 0.5 * (buf[k // 2 - 1, x] + buf[k // 2, x])
            var = var_r1[y, x] + pcoef[y, x] * max(med, 0.0)
            use = med if (r - med) ** 2 <= clip * clip * var else r
            out[y, x] = max(use, 0.0)


@njit(cache=True, parallel=True, nogil=True)
def _second_pass(data, gdq, gain, readnoise, tgroup, nframes, kappa, coef, f1, f2, snr_edges, qvar,
                 rate, var_r1, pcoef, nsegs, vrate, slope, err, var_p, var_r):
    """Final slopes and variances with the Poisson variance taken at ``vrate``; only pixels with
    several segments are fitted again (their inverse-variance weights depend on the rate)."""
    nints, ngroups, ny, nx = data.shape
    maxseg = nints * (ngroups // 2) + 1
    nan = np.float32(np.nan)
    for y in prange(ny):
        ramp = np.empty(ngroups, dtype=np.float64)
        seg_slope = np.empty(maxseg, dtype=np.float64)
        seg_n = np.empty(maxseg, dtype=np.int64)
        seg_p = np.empty(maxseg, dtype=np.int64)
        for x in range(nx):
            nseg = nsegs[y, x]
            if nseg == 0:
                slope[y, x] = nan
                err[y, x] = nan
                var_p[y, x] = nan
                var_r[y, x] = nan
                continue
            r = vrate[y, x]
            if nseg == 1:
                vp_tot = pcoef[y, x] * r
                vr_tot = var_r1[y, x]
                s = rate[y, x]
            else:
                _, g, gain_ok, rn_grp2, rn_diff_e2 = _pixel_constants(gain, readnoise, y, x, nframes, qvar)
                nseg, _, _ = _segments(data, gdq, y, x, g, rn_diff_e2, tgroup, coef, snr_edges,
                                       ramp, seg_slope, seg_n, seg_p)
                s, vp_tot, vr_tot = _combine(nseg, seg_slope, seg_n, seg_p, r, g, gain_ok, rn_grp2, tgroup,
                                             kappa, f1, f2)
            slope[y, x] = s
            var_p[y, x] = vp_tot
            var_r[y, x] = vr_tot
            err[y, x] = np.sqrt(vp_tot + vr_tot)
