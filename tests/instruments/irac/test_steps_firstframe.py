"""irac_firstframe: the first-frame offset law subtracted with its uncertainty, flags and clear refusals."""

import math

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_firstframe.algorithm import offset
from calpipe.instruments.irac.steps.irac_firstframe.step import IracFirstFrameStep

from .helpers import SIGMA_READ, bcd, reference


def test_firstframe_law_by_hand():
    coeffs = np.array([[[1.0, 2.0]], [[-2.0, 0.5]]])  # a, b for two pixels
    assert offset(coeffs, 1000.0).tolist() == [[1.0 - 6.0, 2.0 + 1.5]]
    assert offset(coeffs, 0.01).tolist() == offset(coeffs, 0.1).tolist()  # below 0.1 s: clamped
    with pytest.raises(ValueError, match="shape"):
        offset(coeffs[0], 10.0)


def test_firstframe_step_subtracts_flags_and_propagates():
    coeffs = np.zeros((2, 1, 3))
    coeffs[0] = [[1.0, 1.0, 0.0]]
    coeffs[1] = [[-2.0, 0.0, 0.5]]
    err = np.zeros((2, 1, 3))
    err[1, 0, 0] = 0.5
    model = bcd(np.array([[10.0, 10.0, 10.0]]), err=3.0, delay=1000.0)
    ref = reference("firstframe", coeffs, err=err)
    out = IracFirstFrameStep().process(model, {"firstframe": ref}, IracFirstFrameStep.Params())
    assert out.data.tolist() == [[15.0, 9.0, 8.5]]  # 10 - (1 - 6), 10 - 1, 10 - 1.5
    assert out.err[0, 0] == pytest.approx(math.sqrt(9 + 9 * 0.25)), "error adds the first-frame error"
    assert out.err[0, 1] == 3.0, "error unchanged where the coefficients carry none"
    # flagged where |offset| > 1 read-noise sigma (3.64 DN): only the 5 DN pixel
    assert ((out.artifacts & art.FIRSTFRAME) != 0).tolist() == [[True, False, False]]
    assert 5.0 > SIGMA_READ > 1.5


def test_firstframe_delay_parameter_and_missing_framedly():
    coeffs = np.stack([np.zeros((1, 1)), np.ones((1, 1))])
    ref = reference("firstframe", coeffs)
    out = IracFirstFrameStep().process(bcd(np.zeros((1, 1)), delay=None), {"firstframe": ref},
                                       IracFirstFrameStep.Params(delay=100.0))
    assert out.data[0, 0] == -2.0
    with pytest.raises(InputDataError, match="FRAMEDLY"):
        IracFirstFrameStep().process(bcd(np.zeros((1, 1)), delay=None), {"firstframe": ref},
                                     IracFirstFrameStep.Params())
    with pytest.raises(RefDataError, match=r"\(2, ny, nx\)"):
        IracFirstFrameStep().process(bcd(np.zeros((1, 1))), {"firstframe": reference("firstframe", np.zeros((1, 1)))},
                                     IracFirstFrameStep.Params())


def test_nonfinite_coefficients_are_not_applied_and_flagged():
    coeffs = np.stack([np.array([[np.nan, 1.0]]), np.zeros((1, 2))])
    out = IracFirstFrameStep().process(bcd(np.zeros((1, 2))), {"firstframe": reference("firstframe", coeffs)},
                                       IracFirstFrameStep.Params())
    assert out.data.tolist() == [[0.0, -1.0]], "data"
    assert out.dq.tolist() == [[DQ.DO_NOT_USE, 0]], "dq"

