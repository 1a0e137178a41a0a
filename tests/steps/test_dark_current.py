"""dark_current: group mean times and subtraction against hand-computed values."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, ReferenceFileModel
from calpipe.steps.dark_current.algorithm import group_times, subtract_dark
from calpipe.steps.dark_current.step import DarkCurrentStep


def test_group_times_by_hand():
    # SHALLOW4 (4 frames, gap 1): group 0 = frames 1..4 (mean 2.5), group 1 = frames 6..9 (7.5), group 2 = 11..14
    assert group_times(3, 10.0, 4, 1).tolist() == [25.0, 75.0, 125.0]
    assert group_times(3, 10.0, 1, 0).tolist() == [10.0, 20.0, 30.0]  # RAPID: one frame per group
    assert group_times(2, 2.0, 2, 18).tolist() == [3.0, 43.0]  # DEEP2: frames 1,2 then 21,22


def test_dark_subtracted_per_group_nan_flagged_and_kept():
    data = np.full((1, 3, 1, 2), 100.0, np.float32)
    pixeldq = np.zeros((1, 2), np.uint32)
    subtract_dark(data, pixeldq, np.array([[0.1, np.nan]], np.float32), group_times(3, 10.0, 4, 1))
    assert data[0, :, 0, 0].tolist() == pytest.approx([97.5, 92.5, 87.5])
    assert data[0, :, 0, 1].tolist() == [100.0, 100.0, 100.0]
    assert pixeldq.tolist() == [[0, DQ.DO_NOT_USE]]


def ramp(ngroups=3, **exposure):
    model = RampModel(data=np.full((2, ngroups, 2, 2), 50.0, np.float32))
    model.meta.filename = "x_ramp.fits"
    model.meta.subarray.xstart, model.meta.subarray.ystart = 3, 2
    for key, value in {"frame_time": 10.0, "nframes": 4, "groupgap": 1, **exposure}.items():
        setattr(model.meta.exposure, key, value)
    return model


def dark(rate):
    ref = ReferenceFileModel(data=np.asarray(rate, np.float32))
    ref.meta.filename = "dark.fits"
    return ref


def test_step_uses_keywords_and_the_subarray_part_of_the_dark():
    rate = np.zeros((8, 8), np.float32)
    rate[2, 3] = 0.2  # full frame (y=2, x=3) = subarray (1, 1) for SUBSTRT1=3, SUBSTRT2=2
    out = DarkCurrentStep().process(ramp(), {"dark": dark(rate)}, DarkCurrentStep.Params())
    for i in range(2):
        assert out.data[i, :, 1, 1].tolist() == pytest.approx([45.0, 35.0, 25.0])
        assert out.data[i, :, 0, 0].tolist() == [50.0, 50.0, 50.0]


def test_step_errors():
    with pytest.raises(InputDataError, match="missing keyword TFRAME"):
        DarkCurrentStep().process(ramp(frame_time=None), {"dark": dark(np.zeros((8, 8)))},
                                  DarkCurrentStep.Params())
    with pytest.raises(InputDataError, match="NFRAMES = 0"):
        DarkCurrentStep().process(ramp(nframes=0), {"dark": dark(np.zeros((8, 8)))}, DarkCurrentStep.Params())
    with pytest.raises(RefDataError, match=r"dark\.fits: dark shape"):
        DarkCurrentStep().process(ramp(), {"dark": dark(np.zeros((3, 8, 8)))}, DarkCurrentStep.Params())
