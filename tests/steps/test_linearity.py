"""linearity: polynomial correction against hand-computed values and the simulator's model."""

import numpy as np
import pytest

from calpipe.core.errors import RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, ReferenceFileModel
from calpipe.steps.linearity.algorithm import correct_linearity, polyval
from calpipe.steps.linearity.step import LinearityStep

BETA = 1e-5


def coefficients(shape, beta=BETA):
    """c = [0, 1, beta, 2 beta^2]: the series inverse of S = Q - beta Q^2 (the conventions' model)."""
    c = np.zeros((4, *shape), np.float32)
    c[1], c[2], c[3] = 1.0, beta, 2 * beta**2
    return c


def test_polyval_by_hand():
    # 1000 + 1e-5 * 1e6 + 2e-10 * 1e9 = 1000 + 10 + 0.2 (to the float32 precision of the coefficients)
    assert polyval(coefficients((1,))[:, 0], np.array(1000.0, np.float32)) == pytest.approx(1010.2, rel=1e-9)
    assert polyval(np.array([3.0, 2.0]), np.array([0.0, 1.0, 2.0])).tolist() == [3.0, 5.0, 7.0]


def test_saturated_groups_nan_coefficients_and_reference_pixels_untouched():
    data = np.array([100, 1000, 2000], np.float32)[None, :, None, None] * np.ones((1, 3, 2, 2), np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    groupdq[0, 2, 0, 0] = DQ.SATURATED | DQ.DO_NOT_USE
    pixeldq = np.zeros((2, 2), np.uint32)
    pixeldq[1, 1] = DQ.REFERENCE_PIXEL
    coeffs = coefficients((2, 2))
    coeffs[2, 0, 1] = np.nan
    ref_dq = np.array([[0, 0], [DQ.NO_LIN_CORR, 0]], np.uint32)
    correct_linearity(data, groupdq, pixeldq, coeffs, ref_dq)
    # 100 + 1e-5 * 1e4 + 2e-10 * 1e6 = 100.1002; 1000 -> 1010.2; 2000 + 40 + 1.6 = 2041.6
    assert data[0, :, 0, 0].tolist() == pytest.approx([100.1002, 1010.2, 2000.0], rel=1e-7)
    for y, x in ((0, 1), (1, 0), (1, 1)):
        assert data[0, :, y, x].tolist() == [100.0, 1000.0, 2000.0]
    assert pixeldq.tolist() == [[0, DQ.NO_LIN_CORR], [DQ.NO_LIN_CORR, DQ.REFERENCE_PIXEL]]
    assert data.dtype == np.float32


def test_residual_below_half_percent_up_to_90_percent_full_well():
    full_well, beta = 50000.0, 1e-6  # 5 % non-linear at full well
    q = np.linspace(0, 0.9 * full_well, 1000)
    measured = (q - beta * q**2).astype(np.float32).reshape(1, 1, 1, -1)
    correct_linearity(measured, np.zeros(measured.shape, np.uint8), np.zeros((1, q.size), np.uint32),
                      coefficients((1, q.size), beta))
    good = q > 100
    assert np.abs(measured[0, 0, 0, good] / q[good] - 1).max() < 0.005


def test_step_uses_the_subarray_part_of_the_coefficients():
    coeffs = coefficients((16, 16))
    coeffs[2, 6, 4] = 2 * BETA  # full-frame (y=6, x=4): subarray (1, 1) for SUBSTRT1=4, SUBSTRT2=6
    ref = ReferenceFileModel(data=coeffs)
    ref.meta.filename = "lin.fits"
    product = RampModel(data=np.full((1, 1, 3, 3), 1000.0, np.float32))
    product.meta.filename = "x_ramp.fits"
    product.meta.subarray.xstart, product.meta.subarray.ystart = 4, 6
    out = LinearityStep().process(product, {"linearity": ref}, LinearityStep.Params())
    expected = np.full((3, 3), 1010.2)
    expected[1, 1] = 1000 + 20 + 0.2
    assert np.allclose(out.data[0, 0], expected, rtol=1e-7, atol=0)
    assert out.groupdq.shape == (1, 1, 3, 3), "groupdq shape"
    assert not out.pixeldq.any(), "pixeldq empty"


def test_step_refuses_coefficients_of_the_wrong_shape():
    ref = ReferenceFileModel(data=np.ones((3, 3), np.float32))
    ref.meta.filename = "lin.fits"
    product = RampModel(data=np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(RefDataError, match=r"lin.fits: .*need \(ncoeff >= 2, ny, nx\)"):
        LinearityStep().process(product, {"linearity": ref}, LinearityStep.Params())
