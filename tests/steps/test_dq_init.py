"""dq_init algorithm against hand-computed values."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.steps.dq_init.algorithm import init_dq


def test_mask_is_ored_into_existing_dq():
    sci = np.ones((2, 2), np.float32)
    dq = np.array([[0, DQ.SATURATED], [0, 0]], np.uint32)
    mask = np.array([[DQ.HOT | DQ.DO_NOT_USE, DQ.DEAD], [0, 0]], np.uint32)
    out = init_dq(sci, dq, mask, flag_nonfinite=False)
    assert out.tolist() == [[2049, 1026], [0, 0]]
    assert dq.tolist() == [[0, 2], [0, 0]]  # the caller's array is untouched


def test_nonfinite_pixels_flagged_only_when_asked():
    sci = np.array([[np.nan, 1], [np.inf, 2]], np.float32)
    mask = np.zeros((2, 2), np.uint32)
    assert init_dq(sci, None, mask, True).tolist() == [[1, 0], [1, 0]]
    assert init_dq(sci, None, mask, False).tolist() == [[0, 0], [0, 0]]


def test_cube_flags_a_pixel_bad_in_any_plane():
    sci = np.ones((3, 2, 2), np.float32)
    sci[1, 0, 1] = np.nan
    assert init_dq(sci, None, np.zeros((2, 2), np.uint32), True).tolist() == [[0, 1], [0, 0]]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"mask shape \(3, 3\) does not match the data's \(2, 2\)"):
        init_dq(np.ones((2, 2)), None, np.zeros((3, 3), np.uint32), True)
