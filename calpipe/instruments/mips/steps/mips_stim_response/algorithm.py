"""The Ge responsivity R(t) from stim flashes, interpolated to an exposure.

Each raw Ge exposure carries the two stim cycles of the data stream that bracket it: before it a
background DCE, a stim-flash DCE and a background DCE, and the same after it (the flight data
stream interleaved stim flashes every few exposures; the SSC pipeline used them the same way).
A cycle's response per pixel is

    S(t_s) = stim slope - background(t_s),  background(t_s) linear in time between the two
             background slopes (same pointing, same sky, so sky and dark cancel),

which is G R(t_s) x (stim brightness x pattern) [DN/s]. The exposure's response is S linearly
interpolated in time between the two flashes to the exposure's mid-time (outside them: extrapolated,
flagged). Dividing the dark-subtracted slope by it leaves the sky in units of the stim brightness;
G and R(t) cancel, so a responsivity drift of ~10 %/hour between flashes a few minutes apart leaves
only its curvature.

Variances: var S = var_stim + w1^2 var_b1 + w2^2 var_b2 (w the background interpolation weights);
var R = (1 - f)^2 var S_1 + f^2 var S_2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Response(NamedTuple):
    value: np.ndarray  # R at the exposure [DN/s]
    var: np.ndarray
    cycles: tuple[np.ndarray, np.ndarray]  # S of each cycle
    fraction: float  # f: where the exposure lies between the flashes (0..1 inside)


def cycle_response(slopes: list[np.ndarray], variances: list[np.ndarray],
                   times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(S, var S) of one cycle from its (background, stim, background) slopes and mid-times."""
    t1, ts, t2 = (float(t) for t in times)
    if not t1 < ts < t2:
        raise ValueError(f"a stim cycle needs background, stim, background in time order, got times {times}")
    w2 = (ts - t1) / (t2 - t1)
    w1 = 1.0 - w2
    b1, s, b2 = (np.asarray(x, np.float64) for x in slopes)
    v1, vs, v2 = (np.asarray(x, np.float64) for x in variances)
    return s - (w1 * b1 + w2 * b2), vs + w1 * w1 * v1 + w2 * w2 * v2


def interpolate(s1: np.ndarray, v1: np.ndarray, t1: float, s2: np.ndarray, v2: np.ndarray, t2: float,
                t: float) -> Response:
    """R(t) linear in time through (t1, S1) and (t2, S2)."""
    if not t2 > t1:
        raise ValueError(f"the two stim flashes must be in time order, got {t1} and {t2}")
    f = (t - t1) / (t2 - t1)
    value = (1.0 - f) * s1 + f * s2
    var = (1.0 - f) ** 2 * v1 + f * f * v2
    return Response(value, var, (s1, s2), float(f))


def apply(data: np.ndarray, err: np.ndarray, response: np.ndarray, response_var: np.ndarray,
          var_poisson: np.ndarray | None = None, var_rnoise: np.ndarray | None = None):
    """(data / R, err, var_poisson, var_rnoise, bad): the response's own variance adds to ERR."""
    good = np.isfinite(response) & (response > 0)
    r = np.where(good, response, 1.0)
    out = np.asarray(data, np.float64) / r
    total = (np.asarray(err, np.float64) / r) ** 2 + out * out * np.where(good, response_var, 0.0) / (r * r)
    scale = r * r
    vp = None if var_poisson is None else (var_poisson / scale).astype(np.float32)
    vr = None if var_rnoise is None else (var_rnoise / scale).astype(np.float32)
    return out.astype(np.float32), np.sqrt(total).astype(np.float32), vp, vr, ~good
