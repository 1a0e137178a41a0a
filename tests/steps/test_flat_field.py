"""flat_field algorithm against hand-computed values."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.steps.flat_field.algorithm import apply_flat


def test_division_and_variance_scaling():
    sci = np.array([[4.0, 9.0]], np.float32)
    err = np.array([[2.0, 3.0]], np.float32)
    flat = np.array([[2.0, 0.5]], np.float32)
    out = apply_flat(sci, err, np.zeros((1, 2), np.uint32), flat, None, None,
                     var_poisson=np.array([[4.0, 1.0]], np.float32), var_rnoise=np.array([[1.0, 1.0]], np.float32))
    assert out.sci.tolist() == [[2.0, 18.0]]
    assert out.err.tolist() == [[1.0, 6.0]]
    assert out.var_poisson.tolist() == [[1.0, 4.0]], "Poisson variance"
    assert out.var_rnoise.tolist() == [[0.25, 4.0]], "read-noise variance"
    assert out.dq.tolist() == [[0, 0]]


def test_flat_uncertainty_adds_in_quadrature():
    # sci' = 10/2 = 5; sigma = sqrt((4/2)^2 + (5 * 0.1/2)^2) = sqrt(4 + 0.0625)
    out = apply_flat(np.array([[10.0]]), np.array([[4.0]]), np.zeros((1, 1), np.uint32),
                     np.array([[2.0]]), np.array([[0.1]]), None)
    assert out.err[0, 0] == pytest.approx(np.sqrt(4.0625), rel=1e-6)


def test_unusable_flat_pixels_keep_data_and_are_flagged():
    sci = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)
    flat = np.array([[0.0, np.nan, 0.05, 1.0]], np.float32)
    flat_dq = np.array([[0, 0, 0, DQ.LOW_QE]], np.uint32)
    out = apply_flat(sci, sci * 0, np.zeros((1, 4), np.uint32), flat, None, flat_dq, min_flat=0.1)
    assert out.sci.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    bad = DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE
    assert out.dq.tolist() == [[bad, bad, bad, DQ.LOW_QE]]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="flat shape"):
        apply_flat(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), np.uint32), np.ones((3, 3)), None, None)
