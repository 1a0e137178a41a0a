"""common_mode against ramps with known per-group amplifier offsets."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel
from calpipe.steps.common_mode.algorithm import column_groups, measure_offsets, subtract_offsets
from calpipe.steps.common_mode.step import CommonModeStep

NGROUPS, SIDE, SIGMA = 10, 128, 1.8  # read noise of a group, DN


def test_column_groups_by_hand():
    # full-frame columns 1020..1027 with 512-column amplifiers: amp 1 then amp 2, alternating parity
    assert column_groups(1020, 8, 512, True).tolist() == [2, 3, 2, 3, 4, 5, 4, 5]
    assert column_groups(1020, 8, 512, False).tolist() == [2, 2, 2, 2, 4, 4, 4, 4]


def ramps_with_offsets(seed):
    """Ramps of random rates with read noise, plus offsets (ngroups, label) on every column group."""
    rng = np.random.default_rng(seed)
    labels = column_groups(1024 - SIDE // 2, SIDE, 512, True)
    rates = rng.uniform(0.0, 50.0, (SIDE, SIDE))
    k = np.arange(NGROUPS)
    data = rates[None] * k[:, None, None] + rng.normal(0.0, SIGMA, (NGROUPS, SIDE, SIDE))
    offsets = rng.normal(0.0, 0.35, (NGROUPS, labels.max() + 1)) + 0.01 * k[:, None]  # white + linear
    data += offsets[:, labels][:, None, :]
    return data[None].astype(np.float32), offsets, labels


def detrended(offsets):
    """What a straight line over the groups cannot absorb: the offsets minus their own line fit."""
    k = np.arange(offsets.shape[0]) - (offsets.shape[0] - 1) / 2
    mean = offsets.mean(axis=0)
    slope = (k @ offsets) / (k @ k)
    return offsets - mean - np.outer(k, slope)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_offsets_are_measured_to_a_few_percent_of_their_rms(seed):
    data, offsets, labels = ramps_with_offsets(seed)
    gdq = np.zeros(data.shape, np.uint8)
    measured = measure_offsets(data, gdq, np.zeros((SIDE, SIDE), np.uint32), labels)[0]
    truth = detrended(offsets)[:, np.unique(labels)]
    error = measured[:, np.unique(labels)] - truth
    # median of 4096 pixels' residuals: sigma ~ 1.25 * 1.8 / 64 = 0.035 DN, against offsets of 0.35 DN
    assert np.sqrt(np.mean(error**2)) < 0.2 * np.sqrt(np.mean(truth**2))


def common_differences(data, labels):
    """(label, difference): mean over a column group's pixels of each group difference minus the pixel's rate."""
    diffs = np.diff(data[0].astype(np.float64), axis=0)
    diffs -= diffs.mean(axis=0)
    return np.array([diffs[:, :, labels == lab].mean(axis=(1, 2)) for lab in np.unique(labels)])


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_subtraction_leaves_group_differences_at_the_read_noise(seed):
    data, _, labels = ramps_with_offsets(seed)
    gdq = np.zeros(data.shape, np.uint8)
    before = common_differences(data, labels)
    subtract_offsets(data, measure_offsets(data, gdq, np.zeros((SIDE, SIDE), np.uint32), labels), labels)
    after = common_differences(data, labels)
    assert np.sqrt(np.mean(before**2)) > 0.3  # offsets of 0.35 DN: differences of ~0.5 DN
    # what is left common to a column group is the medians' own noise (~0.05 DN per difference)
    assert np.sqrt(np.mean(after**2)) < 0.2 * np.sqrt(np.mean(before**2))


def test_saturated_and_bad_pixels_are_left_out():
    data, offsets, labels = ramps_with_offsets(7)
    gdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros((SIDE, SIDE), np.uint32)
    data[0, 5:, :40] = 60000.0  # garbage after saturation in a third of the rows
    gdq[0, 5:, :40] = DQ.SATURATED
    data[0, :, 40:50] = np.nan
    pixeldq[40:50] = DQ.DO_NOT_USE
    measured = measure_offsets(data, gdq, pixeldq, labels)[0]
    truth = detrended(offsets)[:, np.unique(labels)]
    assert np.sqrt(np.mean((measured[:, np.unique(labels)] - truth) ** 2)) < 0.2 * np.sqrt(np.mean(truth**2))


def test_too_few_pixels_leave_a_column_group_uncorrected():
    data, _, labels = ramps_with_offsets(8)
    gdq = np.zeros(data.shape, np.uint8)
    measured = measure_offsets(data[:, :, :2], gdq[:, :, :2], np.zeros((2, SIDE), np.uint32), labels,
                               min_pixels=100)
    assert not measured.any()


def _ramp(data, pixeldq):
    ramp = RampModel(data=data)
    ramp.groupdq = np.zeros(data.shape, np.uint8)
    ramp.pixeldq = pixeldq
    ramp.meta.filename = "nir_sub_ramp.fits"
    ramp.meta.instrument.name = "NIR"  # its plugin states 512-column amplifiers
    ramp.meta.subarray.xstart = 1024 - SIDE // 2 + 1
    return ramp


def test_step_corrects_a_subarray_and_leaves_a_readout_with_reference_pixels_alone():
    data, _, labels = ramps_with_offsets(9)
    out = CommonModeStep().process(_ramp(data.copy(), np.zeros((SIDE, SIDE), np.uint32)), {},
                                   CommonModeStep.Params())
    expected = data - measure_offsets(data, np.zeros(data.shape, np.uint8), np.zeros((SIDE, SIDE), np.uint32),
                                      labels)[:, :, labels][:, :, None, :].astype(np.float32)
    np.testing.assert_allclose(out.data, expected, atol=1e-3)
    with_border = np.zeros((SIDE, SIDE), np.uint32)
    with_border[:4] = DQ.REFERENCE_PIXEL
    same = CommonModeStep().process(_ramp(data.copy(), with_border), {}, CommonModeStep.Params())
    np.testing.assert_array_equal(same.data, data)


def test_an_instrument_without_an_amplifier_width_needs_the_parameter():
    from calpipe.core.errors import InputDataError

    data, _, _ = ramps_with_offsets(10)
    ramp = _ramp(data, np.zeros((SIDE, SIDE), np.uint32))
    ramp.meta.instrument.name = "DEMO"
    with pytest.raises(InputDataError, match=r"nir_sub_ramp\.fits: instrument 'demo' states no amplifier width"):
        CommonModeStep().process(ramp, {}, CommonModeStep.Params())
    out = CommonModeStep().process(ramp, {}, CommonModeStep.Params(amp_width=512))
    assert out.data.shape == data.shape
