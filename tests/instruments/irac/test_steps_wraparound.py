"""irac_wraparound: negative sums unwrapped exactly; overflows of a too-small barrel shift from neighbours."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac.steps.irac_fowler.step import IracFowlerStep
from calpipe.instruments.irac.steps.irac_wraparound.algorithm import unwrap
from calpipe.instruments.irac.steps.irac_wraparound.step import IracWraparoundStep
from calpipe.instruments.irac.steps.readout import frame_variance, wrap_period

from .helpers import GAIN, RONOISE, bcd, encode, gaussian_star, raw


def test_wrap_period_by_hand():
    assert wrap_period(3, 8) == 65536.0
    assert wrap_period(2, 8) == 32768.0


def test_negative_sums_come_back_exactly():
    data = np.array([[65530.0, 65535.0, 10.0, 44000.0, 59999.0, 60000.0]])
    out = unwrap(data, 65536.0, 60000.0, 2000.0)
    assert out.data.tolist() == [[-6.0, -1.0, 10.0, 44000.0, 59999.0, -5536.0]]
    assert out.exact.tolist() == [[True, True, False, False, False, True]]
    assert not out.estimated.any()


def test_round_trip_through_the_on_board_encoding():
    rng = np.random.default_rng(3)
    sums = rng.integers(-3000, 8 * 45000, (64, 64))
    sums -= sums % 8  # multiples of 2^B: no truncation, so the round trip is exact
    fowler = IracFowlerStep().process(raw(encode(sums)), {}, IracFowlerStep.Params(truncation="none"))
    out = IracWraparoundStep().process(fowler, {}, IracWraparoundStep.Params())
    assert np.array_equal(out.data, (sums / 8).astype(np.float32))
    assert not (out.dq & DQ.FLUX_ESTIMATED).any()
    moved = sums < 0
    expected = np.sqrt(frame_variance(sums[moved] / 8, GAIN, RONOISE, 8, 44, 3))
    assert np.allclose(out.err[moved], expected, rtol=1e-6)  # ERR of the unwrapped value, not of ~65530


def test_isolated_wraps_of_a_small_barrel_shift_are_restored_from_the_neighbours():
    # ABARREL 2 with N = 8: the word wraps every 32768 DN. In a smooth bright field (28-31 kDN) one pixel
    # at 40000 wraps to 7232; in a faint field one pixel at -50 wraps to 32718.
    rng = np.random.default_rng(4)
    truth = 28000.0 + 100.0 * np.arange(30)[None, :] + rng.normal(0, 60.0, (30, 30))
    truth[:, 15:] = 100.0 + rng.normal(0, 5.0, (30, 15))
    truth[10, 5], truth[20, 25] = 40000.0, -50.0
    out = unwrap(np.mod(truth, 32768.0), 32768.0, 60000.0, 2000.0)
    assert np.allclose(out.data, truth, atol=1e-2)
    assert out.estimated.sum() == 2, "two pixels estimated"
    assert out.estimated[10, 5], "first wrapped pixel estimated"
    assert out.estimated[20, 25], "second wrapped pixel estimated"


def test_nothing_moves_when_the_word_cannot_wrap_upwards():
    # ABARREL = log2 N: a star's sharp peak and a saturated star's dip stay as they are
    data = 20.0 + gaussian_star((21, 21), 10.0, 10.0, 150000.0, 1.7)
    data[10, 10] = 3000.0
    out = unwrap(data, 65536.0, 60000.0, 2000.0)
    assert np.array_equal(out.data, data.astype(np.float32)), "data unchanged"
    assert not (out.exact | out.estimated).any(), "nothing corrected"


def test_step_flags_estimated_values():
    data = np.full((9, 9), 30000.0)
    data[4, 4] = 45000.0 - 32768.0
    model = bcd(data, barrel=2)
    out = IracWraparoundStep().process(model, {}, IracWraparoundStep.Params())
    assert out.data[4, 4] == 45000.0
    assert out.dq[4, 4] == DQ.FLUX_ESTIMATED, "the pixel is flagged FLUX_ESTIMATED"
    assert out.dq.sum() == DQ.FLUX_ESTIMATED, "no other flag"
    assert out.err[4, 4] == pytest.approx(np.sqrt(frame_variance(np.array([45000.0]), GAIN, RONOISE, 8, 44, 2)[0]))
