"""irac_linearity: the Fowler-aware quadratic, derived from individual reads, inverted exactly."""

import numpy as np
import pytest

from calpipe.core.errors import RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac.steps.irac_linearity.algorithm import forward, fowler_factor, linearize
from calpipe.instruments.irac.steps.irac_linearity.step import IracLinearityStep

from .helpers import bcd, reference


def fowler_reads(linear: np.ndarray, alpha: float, nfowler: int, wait: int) -> np.ndarray:
    """The normalised Fowler difference of reads Q(1 + alpha Q) at ticks 1..N and N+W+1..2N+W."""
    rate = linear / (wait + nfowler)  # DN per tick
    ped = rate[..., None] * np.arange(1, nfowler + 1)
    sig = rate[..., None] * np.arange(nfowler + wait + 1, 2 * nfowler + wait + 1)
    return (sig + alpha * sig**2).mean(-1) - (ped + alpha * ped**2).mean(-1)


def test_fowler_factor_by_hand():
    assert fowler_factor(8, 44) == 61 / 52
    assert fowler_factor(1, 1) == 4 / 2
    assert fowler_factor(32, 436, first_read=0.0) == (436 + 63) / 468


@pytest.mark.parametrize(("nfowler", "wait"), [(1, 1), (4, 2), (8, 44), (32, 436)])
def test_correction_of_individual_reads_is_exact(nfowler, wait):
    linear = np.array([0.0, 10.0, 1000.0, 20000.0, 38000.0])
    measured = fowler_reads(linear, -2.0e-6, nfowler, wait)
    assert np.allclose(forward(linear, -2.0e-6, fowler_factor(nfowler, wait)), measured, rtol=1e-12)
    out = linearize(measured, np.full(5, -2.0e-6), fowler_factor(nfowler, wait))
    assert np.allclose(out.data, linear, rtol=1e-6, atol=1e-3)
    assert not out.uncorrected.any()


def test_correcting_the_difference_alone_would_be_wrong_by_percents():
    # k = 1 (the difference taken as one read) misses alpha (k - 1) L = 6 % at 30000 DN in a 0.6 s frame (k = 2)
    measured = fowler_reads(np.array([30000.0]), -2.0e-6, 1, 1)
    naive = linearize(measured, np.array([-2.0e-6]), 1.0).data[0]
    assert abs(naive / 30000.0 - 1) > 0.05
    assert linearize(measured, np.array([-2.0e-6]), fowler_factor(1, 1)).data[0] == pytest.approx(30000.0, rel=1e-6)


def test_slope_and_unusable_pixels():
    out = linearize(np.array([1000.0, 5.0, 5.0, 200000.0]), np.array([-2e-6, 0.0, np.nan, -2e-6]), 1.2)
    assert out.slope[0] == pytest.approx(1 / np.sqrt(1 - 4 * 2e-6 * 1.2 * 1000))
    assert out.data[1] == 5.0, "data"
    assert out.slope[1] == 1.0, "slope"
    assert out.uncorrected.tolist() == [False, False, True, True]  # no alpha; beyond the turnover
    assert out.data[2] == 5.0, "data of pixel 2"
    assert out.data[3] == 200000.0, "data of pixel 3"


def test_step_with_a_1_ny_nx_alpha_reference():
    linear = np.array([[0.0, 100.0], [25000.0, 36000.0]])
    alpha = np.full((1, 2, 2), -2.0e-6)
    alpha[0, 1, 1] = np.nan
    measured = fowler_reads(linear, -2.0e-6, 8, 44)
    model = bcd(measured, err=10.0)
    ref = reference("linearity", alpha, dq=np.array([[0, 0], [DQ.LOW_QE, 0]]))
    out = IracLinearityStep().process(model, {"linearity": ref}, IracLinearityStep.Params())
    assert np.allclose(out.data[:, 0], linear[:, 0], rtol=1e-6, atol=1e-3)
    assert out.data[1, 1] == np.float32(measured[1, 1])
    assert out.dq.tolist() == [[0, 0], [DQ.LOW_QE, DQ.NO_LIN_CORR]]
    assert out.err[1, 0] == pytest.approx(10.0 / np.sqrt(1 - 4 * 2e-6 * 61 / 52 * measured[1, 0]), rel=1e-6)


def test_step_refuses_an_alpha_map_of_another_shape():
    with pytest.raises(RefDataError, match=r"irac_ch1_linearity.fits: reference shape \(3, 3\)"):
        IracLinearityStep().process(bcd(np.zeros((2, 2))), {"linearity": reference("linearity", np.zeros((1, 3, 3)))},
                                    IracLinearityStep.Params())
