"""refpix: exact removal of injected offsets and drift, and residuals < 0.3 sigma_read with noise."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel
from calpipe.steps.refpix.algorithm import clipped_mean, correct_refpix, running_median
from calpipe.steps.refpix.step import RefPixStep

NREF = 4


def test_clipped_mean_drops_the_outlier():
    # 10 ones and a 100: mean 10, std sqrt((10*81 + 8100)/11) = 28.5, |100-10| = 3.16 std -> clipped
    x = np.array([1.0] * 10 + [100.0])
    assert clipped_mean(x) == pytest.approx(1.0)
    assert clipped_mean(x, nsigma=4.0) == pytest.approx(10.0)
    valid = np.array([True] * 5 + [False] * 6)
    assert clipped_mean(np.arange(11.0), valid) == pytest.approx(2.0)
    assert clipped_mean(np.array([np.nan, np.nan])) == 0.0  # nothing to measure: no correction


def test_running_median_truncates_at_the_ends():
    x = np.array([1.0, 5.0, 2.0, 8.0, 3.0])
    assert running_median(x, 3).tolist() == [3.0, 2.0, 5.0, 3.0, 5.5]
    assert running_median(x, 1).tolist() == x.tolist()
    assert running_median(np.array([[4.0, np.nan, 2.0]]), 3).tolist() == [[4.0, 3.0, 2.0]]


def synthetic(nints=1, ngroups=2, ny=16, nx=32, amp=8):
    """Signal on the active pixels only (the reference border collects none)."""
    rng = np.random.default_rng(7)
    truth = np.zeros((nints, ngroups, ny, nx), np.float32)
    truth[..., NREF:ny - NREF, NREF:nx - NREF] = rng.uniform(0, 500, (nints, ngroups, ny - 2 * NREF, nx - 2 * NREF))
    namp = nx // amp
    offsets = rng.uniform(-100, 100, (nints, ngroups, namp, 2))  # per amplifier, even and odd columns
    columns = np.repeat(offsets[..., None, :], amp // 2, axis=-2).reshape(nints, ngroups, nx)
    return truth, columns[..., None, :].astype(np.float32), offsets


def test_amplifier_odd_even_offsets_removed_exactly():
    truth, offset, _ = synthetic()
    data = truth + offset
    correct_refpix(data, amp_width=8, nref=NREF, use_side=False)
    assert np.allclose(data, truth, atol=1e-3)


def test_one_offset_per_amplifier_without_odd_even():
    truth, _, offsets = synthetic()
    offset = np.repeat(offsets[..., 0], 8, axis=-1)[..., None, :].astype(np.float32)  # same on both parities
    data = truth + offset
    correct_refpix(data, amp_width=8, nref=NREF, odd_even=False, use_side=False)
    assert np.allclose(data, truth, atol=1e-3)
    # with odd/even offsets, a single value per amplifier leaves +-half their difference
    truth, offset, offsets = synthetic()
    data = truth + offset
    correct_refpix(data, amp_width=8, nref=NREF, odd_even=False, use_side=False)
    half = (offsets[..., 0] - offsets[..., 1]) / 2  # (nints, ngroups, namp)
    assert np.allclose(data[0, 0, 8, 0:8:2] - truth[0, 0, 8, 0:8:2], half[0, 0, 0], atol=1e-3)
    assert np.allclose(data[0, 0, 8, 1:8:2] - truth[0, 0, 8, 1:8:2], -half[0, 0, 0], atol=1e-3)


def test_side_columns_remove_a_row_drift():
    truth, offset, _ = synthetic(ny=40)
    drift = (0.5 * np.arange(40, dtype=np.float32))[:, None]  # linear in the row
    data = truth + offset + drift
    correct_refpix(data, amp_width=8, nref=NREF, side_smoothing=5)
    # a linear drift is its own running median except where the window is truncated (2 rows each end)
    assert np.allclose(data[..., 2:-2, :], truth[..., 2:-2, :], atol=1e-3)
    assert not np.allclose(data[..., :2, :], truth[..., :2, :], atol=1e-3)
    # side_gain scales what is taken off: after the top/bottom step a pixel is off by drift(row) minus
    # the mean drift of the reference rows (0.5 * mean(0..3, 36..39) = 9.75); half of that is removed
    data = truth + offset + drift
    correct_refpix(data, amp_width=8, nref=NREF, side_smoothing=5, side_gain=0.5)
    rows = np.arange(2, 38)
    assert np.allclose(data[0, 0, 2:-2, 10] - truth[0, 0, 2:-2, 10], 0.5 * (0.5 * rows - 9.75), atol=1e-3)


def test_bad_reference_pixels_are_ignored():
    truth, offset, _ = synthetic()
    data = truth + offset
    data[0, 0, :NREF, 0:8] += 50.0  # the bottom rows of amplifier 0 are off: too many for the clipping
    bad = np.zeros((16, 32), bool)
    bad[:NREF, 0:8] = True
    active = (slice(None), slice(None), slice(NREF, -NREF), slice(NREF, -NREF))
    flagged = data.copy()
    correct_refpix(flagged, bad, amp_width=8, nref=NREF, use_side=False)
    assert np.allclose(flagged[active], truth[active], atol=1e-3)
    correct_refpix(data, amp_width=8, nref=NREF, use_side=False)  # unflagged, half the samples pull the mean by 25
    assert np.allclose(data[0, 0, NREF:-NREF, NREF:8] - truth[0, 0, NREF:-NREF, NREF:8], -25.0, atol=1e-3)


def test_noisy_residuals_below_0_3_sigma_read():
    """Per-amplifier odd/even offsets, a slow row drift (1/f-like) and white read noise sigma = 1."""
    rng = np.random.default_rng(11)
    nints, ngroups, ny, nx, amp = 1, 2, 256, 256, 64
    truth, offset, _ = synthetic(nints, ngroups, ny, nx, amp)
    rows = np.arange(ny)
    drift = (5.0 * np.sin(2 * np.pi * rows / 128) + rng.normal(0, 0.2, ny))[:, None].astype(np.float32)
    data = truth + offset + drift + rng.normal(0, 1.0, truth.shape).astype(np.float32)
    data[0, 0, 1, 17] += 500.0  # a hot reference pixel: the clipping must ignore it
    correct_refpix(data, amp_width=amp, nref=NREF)
    resid = (data - truth)[..., NREF:ny - NREF, NREF:nx - NREF]  # noise and what the correction left
    # amplifier/parity offsets left: mean residual over each amplifier's even and odd active columns
    cols = np.arange(NREF, nx - NREF)
    for a in range(nx // amp):
        for parity in (0, 1):
            sel = ((cols // amp) == a) & ((cols % 2) == parity)
            assert np.abs(resid[..., sel].mean(axis=(-2, -1))).max() < 0.3
    # row drift left: residual row means (over 248 columns) have rms < 0.3 sigma_read
    row_means = resid.mean(axis=-1)
    assert np.sqrt((row_means**2).mean()) < 0.3
    # without the correction the same statistics are far off
    raw = (truth + offset + drift - truth)[..., NREF:ny - NREF, NREF:nx - NREF]
    assert np.sqrt((raw.mean(axis=-1) ** 2).mean()) > 1.0


def test_geometry_is_checked():
    with pytest.raises(ValueError, match="amplifiers of 12 columns"):
        correct_refpix(np.zeros((1, 1, 16, 32), np.float32), amp_width=12, nref=NREF)


def ramp(data, pixeldq=None, instrument="NIR"):
    model = RampModel(data=data)
    model.meta.filename = "x_ramp.fits"
    model.meta.instrument.name = instrument
    if pixeldq is not None:
        model.pixeldq = pixeldq
    return model


def test_step_leaves_subarrays_unchanged():
    data = np.random.default_rng(1).normal(0, 1, (1, 2, 64, 64)).astype(np.float32)
    out = RefPixStep().process(ramp(data.copy()), {}, RefPixStep.Params())
    assert np.array_equal(out.data, data)


@pytest.mark.slow  # full frame (16 MB), though it runs in well under a second
def test_step_corrects_a_full_frame():
    """The step's wiring on the geometry the nir plugin states: 4 amplifiers of 512 columns, 4-pixel border."""
    rng = np.random.default_rng(5)
    offsets = rng.uniform(-50, 50, (4, 2))
    column_offsets = np.repeat(offsets[:, None, :], 256, axis=1).reshape(2048).astype(np.float32)
    data = np.empty((1, 1, 2048, 2048), np.float32)
    data[:] = column_offsets
    pixeldq = np.zeros((2048, 2048), np.uint32)
    pixeldq[:4, 512:1024] = DQ.BAD_REF_PIXEL | DQ.REFERENCE_PIXEL
    data[0, 0, :4, 512:1024] += 100.0  # bottom reference rows of amplifier 1: ignored because flagged
    out = RefPixStep().process(ramp(data, pixeldq), {}, RefPixStep.Params())
    active = out.data[0, 0, 4:-4, 4:-4]
    assert np.abs(active).max() < 1e-3


@pytest.mark.parametrize("instrument", ["DEMO", "UNKNOWN"])
def test_step_leaves_a_full_frame_alone_when_the_instrument_has_no_reference_pixels(instrument):
    """The geometry is the instrument's: a 2048x2048 frame of another detector is not corrected."""
    data = np.random.default_rng(2).normal(0, 1, (1, 1, 2048, 2048)).astype(np.float32)
    out = RefPixStep().process(ramp(data.copy(), instrument=instrument), {}, RefPixStep.Params())
    assert np.array_equal(out.data, data)


def test_nir_plugin_states_the_geometry_of_its_detector_model():
    from calpipe.core.registry import get_registry
    from calpipe.instruments.nir.detector import reference_border

    geometry = get_registry().instruments["nir"].reference_pixels
    border = reference_border(geometry.frame)
    assert border[geometry.border - 1, geometry.frame[1] // 2], "the last border row is a reference row"
    assert not border[geometry.border, geometry.border], "the first pixel inside the border sees light"


def test_even_smoothing_length_is_refused():
    from calpipe.core.params import validate

    params, errors = validate(RefPixStep.Params, {"side_smoothing_length": 10})
    assert params is None, "no params"
    assert "must be odd" in errors[0].message, "error says must be odd"
