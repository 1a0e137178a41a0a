"""superbias: subtraction and flagging against hand-computed values."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, RawModel, ReferenceFileModel
from calpipe.steps.superbias.algorithm import subtract_bias
from calpipe.steps.superbias.step import SuperBiasStep


def test_bias_subtracted_from_every_group_nan_flagged_and_kept():
    data = np.array([[[[12000, 13000]], [[12010, 13020]]]], np.float32)  # (1, 2, 1, 2)
    pixeldq = np.zeros((1, 2), np.uint32)
    buffer = data
    subtract_bias(data, pixeldq, np.array([[11990.0, np.nan]], np.float32),
                  ref_dq=np.array([[DQ.HOT, 0]], np.uint32))
    # in place
    assert buffer is data, "buffer is the data"
    assert data.dtype == np.float32, "data dtype"
    assert data[0, :, 0, 0].tolist() == [10.0, 20.0]
    assert data[0, :, 0, 1].tolist() == [13000.0, 13020.0]
    assert pixeldq.tolist() == [[DQ.HOT, DQ.DO_NOT_USE]]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="bias shape"):
        subtract_bias(np.zeros((1, 1, 2, 2), np.float32), np.zeros((2, 2), np.uint32), np.zeros((3, 3)))


def test_step_uses_the_subarray_part_of_the_bias():
    full = np.arange(64, dtype=np.float32).reshape(8, 8)
    product = RampModel(data=np.full((1, 3, 2, 3), 100.0, np.float32))
    product.meta.filename = "x_ramp.fits"
    product.meta.subarray.xstart, product.meta.subarray.ystart = 4, 6  # rows 5..6, columns 3..5 (0-based)
    ref = ReferenceFileModel(data=full)
    ref.meta.filename = "bias.fits"
    out = SuperBiasStep().process(product, {"superbias": ref}, SuperBiasStep.Params())
    expected = 100.0 - np.array([[43, 44, 45], [51, 52, 53]], np.float32)
    for g in range(3):
        assert out.data[0, g].tolist() == expected.tolist()
    assert out.pixeldq.tolist() == [[0, 0, 0], [0, 0, 0]]


def test_step_errors():
    ref = ReferenceFileModel(data=np.zeros((8, 8), np.float32))
    ref.meta.filename = "bias.fits"
    product = RampModel(data=np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(RefDataError, match=r"bias\.fits: .*SUBSTRT1"):
        SuperBiasStep().process(product, {"superbias": ref}, SuperBiasStep.Params())
    with pytest.raises(InputDataError, match="run group_scale first"):
        SuperBiasStep().process(RawModel(data=np.zeros((1, 1, 8, 8), np.uint16)), {"superbias": ref},
                                SuperBiasStep.Params())
