"""saturation: flags against hand-computed and simulated truth."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, RawModel, ReferenceFileModel
from calpipe.steps.saturation.algorithm import flag_saturation, grow
from calpipe.steps.saturation.step import SaturationStep

SAT = DQ.SATURATED | DQ.DO_NOT_USE  # 3
FLOOR = DQ.AD_FLOOR | DQ.DO_NOT_USE  # 65


def run(data, threshold, n_grow=1, ref_dq=None):
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros(data.shape[-2:], np.uint32)
    flag_saturation(data, groupdq, pixeldq, np.asarray(threshold, np.float32), n_grow, ref_dq)
    return groupdq, pixeldq


def test_first_saturated_group_and_all_later_with_4_neighbours():
    data = np.full((1, 4, 3, 3), 50.0, np.float32)
    data[0, :, 1, 1] = [50, 90, 100, 80]  # reaches 100 at group 2; the drop at group 3 does not unsaturate
    groupdq, pixeldq = run(data, np.full((3, 3), 100.0))
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]) * SAT
    for g, expected in enumerate([0 * cross, 0 * cross, cross, cross]):
        assert groupdq[0, g].tolist() == expected.tolist(), g
    assert not pixeldq.any()


def test_no_grow_flags_only_the_pixel():
    data = np.full((1, 2, 3, 3), 50.0, np.float32)
    data[0, 1, 1, 1] = 120
    groupdq, _ = run(data, np.full((3, 3), 100.0), n_grow=0)
    assert groupdq[0, 1].tolist() == [[0, 0, 0], [0, SAT, 0], [0, 0, 0]], "group 1 flags the saturated pixel"
    assert not groupdq[0, 0].any(), "group 0 unflagged"


def test_grow_at_the_edge_does_not_wrap():
    data = np.full((2, 1, 3, 3), 50.0, np.float32)
    data[1, 0, 0, 0] = 200  # second integration only
    groupdq, _ = run(data, np.full((3, 3), 100.0))
    assert groupdq[1, 0].tolist() == [[SAT, SAT, 0], [SAT, 0, 0], [0, 0, 0]]
    assert not groupdq[0].any()


def test_grow_by_two_is_a_diamond():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert grow(mask, 2).astype(int).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1],
                                                  [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]


def test_ad_floor_flags_only_that_group():
    data = np.full((1, 3, 1, 2), 50.0, np.float32)
    data[0, 1, 0, 0] = 0.0
    data[0, 2, 0, 1] = -3.0
    groupdq, _ = run(data, np.full((1, 2), 100.0))
    assert groupdq[0, :, 0, 0].tolist() == [0, FLOOR, 0]
    assert groupdq[0, :, 0, 1].tolist() == [0, 0, FLOOR]


def test_nan_threshold_means_no_check():
    data = np.full((1, 2, 1, 3), 70000.0, np.float32)
    ref_dq = np.array([[0, 0, DQ.NO_SAT_CHECK]], np.uint32)
    groupdq, pixeldq = run(data, [[np.nan, 100.0, 100.0]], n_grow=0, ref_dq=ref_dq)
    assert groupdq[0, :, 0].tolist() == [[0, SAT, 0], [0, SAT, 0]]
    assert pixeldq.tolist() == [[DQ.NO_SAT_CHECK, 0, DQ.NO_SAT_CHECK]]


def test_all_above_threshold_flagged_none_below():
    rng = np.random.default_rng(3)
    threshold = rng.uniform(55000, 65000, (32, 32)).astype(np.float32)
    data = (threshold * rng.uniform(0.5, 1.5, (1, 5, 32, 32))).astype(np.float32)
    data = np.maximum.accumulate(data, axis=1)  # rising ramps
    groupdq, _ = run(data, threshold, n_grow=0)
    above = data >= threshold
    assert np.array_equal((groupdq & DQ.SATURATED) != 0, above)


def ramp(shape, xstart=None, ystart=None):
    model = RampModel(data=np.zeros(shape, np.float32))
    model.meta.filename = "x_ramp.fits"
    model.meta.subarray.xstart, model.meta.subarray.ystart = xstart, ystart
    return model


def reference(data, name="sat.fits"):
    ref = ReferenceFileModel(data=np.asarray(data, np.float32))
    ref.meta.filename = name
    ref.meta.reftype = "saturation"
    return ref


def test_step_cuts_the_full_frame_map_for_a_subarray():
    full = np.full((16, 16), 1000.0, np.float32)
    full[9, 6] = 10.0  # 0-based full-frame (y=9, x=6) is subarray (1, 2) for SUBSTRT1=5, SUBSTRT2=9
    product = ramp((1, 2, 4, 4), xstart=5, ystart=9)
    product.data[:] = 100.0
    step = SaturationStep()
    out = step.process(product, {"saturation": reference(full)}, step.Params(n_pix_grow_sat=0))
    expected = np.zeros((4, 4), np.uint8)
    expected[1, 2] = SAT
    assert out.groupdq[0, 0].tolist() == expected.tolist(), "group 0 flags"
    assert out.groupdq[0, 1].tolist() == expected.tolist(), "group 1 flags"
    assert out.pixeldq.dtype == np.uint32, "pixeldq dtype"
    assert not out.pixeldq.any(), "pixeldq empty"


def test_step_errors():
    step = SaturationStep()
    # a subarray placed outside the full-frame reference: the input's SUBSTRT1/2 are wrong
    with pytest.raises(InputDataError, match=r"SUBSTRT1=15, SUBSTRT2=15 place the 4x4 subarray outside"):
        step.process(ramp((1, 1, 4, 4), 15, 15), {"saturation": reference(np.ones((16, 16)))}, step.Params())
    with pytest.raises(RefDataError, match=r"sat\.fits: reference shape \(2, 2\) is smaller"):
        step.process(ramp((1, 1, 4, 4), 1, 1), {"saturation": reference(np.ones((2, 2)))}, step.Params())
    with pytest.raises(RefDataError, match="no SCI array"):
        empty = ReferenceFileModel()
        empty.meta.filename = "sat.fits"
        step.process(ramp((1, 1, 4, 4)), {"saturation": empty}, step.Params())
    with pytest.raises(InputDataError, match="run group_scale first"):
        step.process(RawModel(data=np.zeros((1, 1, 4, 4), np.uint16)),
                     {"saturation": reference(np.ones((4, 4)))}, step.Params())
