"""irac_dark: the dark frame subtracted with its uncertainty and DQ, and a clear refusal."""

import numpy as np
import pytest

from calpipe.core.errors import RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac.steps.irac_dark.step import IracDarkStep

from .helpers import bcd, reference


def test_dark_subtracted_with_its_error_and_dq():
    model = bcd(np.array([[100.0, 50.0, 7.0]]), err=np.array([[4.0, 4.0, 4.0]]))
    ref = reference("dark", np.array([[10.0, np.nan, -3.0]]), err=np.array([[3.0, 0.0, 0.0]]),
                    dq=np.array([[0, 0, DQ.HOT]]))
    out = IracDarkStep().process(model, {"dark": ref}, IracDarkStep.Params())
    assert out.data.tolist() == [[90.0, 50.0, 10.0]]
    assert out.err.tolist() == [[5.0, 4.0, 4.0]]
    assert out.dq.tolist() == [[0, DQ.DO_NOT_USE, DQ.HOT]]


def test_dark_of_another_shape_is_refused():
    with pytest.raises(RefDataError, match=r"irac_ch1_dark\.fits"):
        IracDarkStep().process(bcd(np.zeros((2, 2))), {"dark": reference("dark", np.zeros((3, 3)))},
                               IracDarkStep.Params())

