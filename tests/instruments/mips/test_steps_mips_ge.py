"""70/160 um step algorithms on hand-made ramps and stim cycles."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.mips.steps.gefit import ramp_slopes, short_segments
from calpipe.instruments.mips.steps.mips_illumination.algorithm import correct
from calpipe.instruments.mips.steps.mips_stim_response.algorithm import apply, cycle_response, interpolate

J, S = DQ.JUMP_DET, DQ.SATURATED


def test_short_segments_between_jumps():
    # one pixel, 10 reads: jumps at reads 3 and 5 -> runs [0, 1, 2], [3, 4], [5 .. 9]
    gdq = np.zeros((1, 10, 1, 1), np.uint8)
    gdq[0, 3], gdq[0, 5] = J, J
    short = short_segments(gdq, 4)[0, :, 0, 0]
    assert short.tolist() == [True, True, True, True, True, False, False, False, False, False]
    gdq[0, 8:] |= S  # saturated tail: the last run is [5, 6, 7], also short now
    assert short_segments(gdq, 4)[0, 5:8, 0, 0].all()


def _ramp(rate, n, dt, bias=1000.0, jump_at=None, jump=0.0):
    t = (np.arange(n) + 1) * dt
    reads = bias + rate * t
    if jump_at is not None:
        reads[jump_at:] += jump
    return reads.reshape(n, 1, 1)


def test_jump_removed_from_a_noiseless_ramp():
    n, dt = 24, 0.131072
    ones = np.ones((1, 1), np.float32)
    coeffs = np.zeros((2, 1, 1), np.float32)
    coeffs[1] = 1.0  # linear
    args = (np.zeros((1, 1), np.uint32), np.full((1, 1), 60000.0, np.float32), np.full((1, 1), 1000.0, np.float32),
            coeffs, 5 * ones, 20 * ones, dt)
    clean = ramp_slopes(_ramp(200.0, n, dt), *args)
    hit = ramp_slopes(_ramp(200.0, n, dt, jump_at=12, jump=3000.0), *args)
    assert np.isclose(clean.slope[0, 0], 200.0, rtol=1e-5)
    assert np.isclose(hit.slope[0, 0], 200.0, rtol=1e-5)  # removed, not merely flagged
    assert hit.dq[0, 0] & DQ.JUMP_DET
    late = ramp_slopes(_ramp(200.0, n, dt, jump_at=22, jump=3000.0), *args)  # 2-read tail: dropped
    assert np.isclose(late.slope[0, 0], 200.0, rtol=1e-5)


def test_stim_cycle_and_interpolation_by_hand():
    # backgrounds 100 at t=0 and 120 at t=10, stim 1100 at t=5: S = 1100 - 110 = 990
    s, v = cycle_response([np.array(100.0), np.array(1100.0), np.array(120.0)],
                          [np.array(4.0), np.array(9.0), np.array(4.0)], np.array([0.0, 5.0, 10.0]))
    assert np.isclose(s, 990.0), "slope"
    assert np.isclose(v, 9.0 + 0.25 * 4 + 0.25 * 4), "slope variance"
    r = interpolate(np.array(990.0), np.array(1.0), 5.0, np.array(1090.0), np.array(1.0), 105.0, 30.0)
    assert np.isclose(r.value, 1015.0), "value"
    assert np.isclose(r.fraction, 0.25), "fraction"
    assert np.isclose(r.var, 0.75**2 + 0.25**2)


def test_apply_response_and_illumination():
    out, err, vp, vr, bad = apply(np.array([200.0, 5.0]), np.array([2.0, 1.0]), np.array([1000.0, -1.0]),
                                  np.array([100.0, 0.0]), np.array([4.0, 1.0]), None)
    assert np.isclose(out[0], 0.2), "output"
    assert bad.tolist() == [False, True], "bad-pixel mask"
    assert np.isclose(err[0], np.sqrt((2 / 1000) ** 2 + 0.2**2 * 100 / 1000**2))
    assert np.isclose(vp[0], 4.0 / 1e6), "Poisson variance"
    assert vr is None, "no read-noise variance"
    data, e, _, bad = correct(np.array([0.5]), np.array([0.1]), np.array([4.0]))
    assert np.isclose(data[0], 0.125), "data"
    assert np.isclose(e[0], 0.025), "error"
    assert not bad.any(), "no pixel flagged"
