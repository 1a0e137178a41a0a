"""gain_scale: rescaling by GAINFACT."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.core.models.products import ImageModel
from calpipe.steps.gain_scale.algorithm import scale_image
from calpipe.steps.gain_scale.step import GainScaleStep


def image(gain_factor):
    model = ImageModel(data=np.array([[2.0, -1.0]], np.float32), err=np.array([[0.5, 1.0]], np.float32),
                       dq=np.zeros((1, 2), np.uint32), var_poisson=np.array([[0.2, 0.0]], np.float32),
                       var_rnoise=np.array([[0.05, 1.0]], np.float32))
    model.meta.filename = "x_rate.fits"
    model.meta.exposure.gain_factor = gain_factor
    return model


def test_scale_image_by_hand():
    sci, err, var = np.array([1.0, 3.0], np.float32), np.array([0.5, 0.5], np.float32), np.array([4.0, 1.0])
    scale_image(2.0, sci, err, (var, None))
    assert sci.tolist() == [2.0, 6.0], "science"
    assert err.tolist() == [1.0, 1.0], "error"
    assert var.tolist() == [16.0, 4.0], "variance"


def test_step_scales_sci_err_and_variances():
    out = GainScaleStep().process(image(2.0), {}, GainScaleStep.Params())
    assert out.data.tolist() == [[4.0, -2.0]], "data"
    assert out.err.tolist() == [[1.0, 2.0]], "error"
    assert out.var_poisson[0].tolist() == pytest.approx([0.8, 0.0])
    assert out.var_rnoise[0].tolist() == pytest.approx([0.2, 4.0])
    assert out.meta.exposure.gain_factor == 2.0


@pytest.mark.parametrize("factor", [None, 1.0])
def test_step_leaves_unit_or_missing_factor_alone(factor):
    out = GainScaleStep().process(image(factor), {}, GainScaleStep.Params())
    assert out.data.tolist() == [[2.0, -1.0]], "data"
    assert out.err.tolist() == [[0.5, 1.0]], "error"
    assert out.var_rnoise[0].tolist() == pytest.approx([0.05, 1.0])


def test_step_refuses_a_nonpositive_factor():
    with pytest.raises(InputDataError, match=r"GAINFACT = -2\.0"):
        GainScaleStep().process(image(-2.0), {}, GainScaleStep.Params())
