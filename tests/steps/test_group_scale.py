"""group_scale: raw uint16 ramps to float32 RampModel, with FRMDIVSR/NFRAMES rescaling."""

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.errors import InputDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, RawModel
from calpipe.steps.group_scale.algorithm import scale_factor, to_float_ramps
from calpipe.steps.group_scale.step import GroupScaleStep


def raw_model(data, nframes=4, frame_divisor=4, pixeldq=None):
    raw = RawModel(data=data) if pixeldq is None else RawModel(data=data, pixeldq=pixeldq)
    raw.meta.filename = "x_raw.fits"
    raw.meta.instrument.name = "NIR"
    raw.meta.instrument.detector = "NRCA1"
    raw.meta.observation.date_obs = "2026-03-01T12:00:00"
    raw.meta.observation.program = "1234"
    raw.meta.date = "2026-03-02T00:00:00"
    e = raw.meta.exposure
    e.readpatt, e.nints, e.ngroups, e.nframes, e.groupgap = "SHALLOW4", data.shape[0], data.shape[1], nframes, 1
    e.frame_divisor, e.frame_time, e.group_time, e.gain_factor = frame_divisor, 0.05, 0.25, 1.0
    s = raw.meta.subarray
    s.name, s.xstart, s.ystart, s.xsize, s.ysize = "SUB64", 101, 201, data.shape[-1], data.shape[-2]
    raw.meta.pointing.ra_ref, raw.meta.pointing.dec_ref, raw.meta.pointing.roll_ref = 10.0, -20.0, 30.0
    return raw


def test_scale_factor_is_divisor_over_nframes():
    # 5 frames of 40 DN sum to 200; divided on board by 4 -> 50 stored; the frame mean 40 = 50 * 4/5
    assert scale_factor(5, 4) == pytest.approx(0.8)
    assert 50 * scale_factor(5, 4) == pytest.approx(40.0)
    assert scale_factor(8, 8) == 1.0
    assert scale_factor(8, None) == 1.0, "no FRMDIVSR: factor 1"
    assert scale_factor(None, 4) == 1.0, "no NFRAMES: factor 1"
    with pytest.raises(ValueError, match="positive"):
        scale_factor(4, 0)


def test_to_float_ramps_converts_and_scales():
    raw = np.array([[[[0, 1], [65535, 50]]]], np.uint16)
    out = to_float_ramps(raw, 0.8)
    assert out.dtype == np.float32, "dtype"
    assert out.shape == raw.shape, "shape"
    assert out.ravel().tolist() == pytest.approx([0.0, 0.8, 52428.0, 40.0])
    assert to_float_ramps(raw).ravel().tolist() == [0.0, 1.0, 65535.0, 50.0]
    assert raw.ravel().tolist() == [0, 1, 65535, 50]  # input untouched


def test_step_makes_ramp_model_with_metadata(tmp_path):
    data = np.arange(18, dtype=np.uint16).reshape(1, 2, 3, 3) * 100
    raw = raw_model(data)
    ramp = GroupScaleStep().process(raw, {}, GroupScaleStep.Params())
    assert isinstance(ramp, RampModel)
    assert ramp.data.dtype == np.float32, "data dtype"
    assert np.array_equal(ramp.data, data.astype(np.float32)), "data values"
    assert ramp.groupdq.dtype == np.uint8, "groupdq dtype"
    assert ramp.groupdq.shape == data.shape, "groupdq shape"
    assert not ramp.groupdq.any(), "groupdq empty"
    assert ramp.pixeldq.dtype == np.uint32, "pixeldq dtype"
    assert ramp.pixeldq.shape == (3, 3), "pixeldq shape"
    assert not ramp.pixeldq.any(), "pixeldq empty"
    m = ramp.meta
    assert (m.instrument.name, m.instrument.detector, m.observation.date_obs) == ("NIR", "NRCA1",
                                                                                 "2026-03-01T12:00:00")
    assert m.observation.program == "1234", "program"
    assert m.data_level == 1, "data level"
    assert m.date is None  # DATE is when a file is written: the new product gets its own on save
    assert (m.exposure.readpatt, m.exposure.nframes, m.exposure.groupgap, m.exposure.frame_time) == (
        "SHALLOW4", 4, 1, 0.05)
    assert (m.subarray.name, m.subarray.xstart, m.subarray.ystart) == ("SUB64", 101, 201)
    assert (m.pointing.ra_ref, m.pointing.dec_ref, m.pointing.roll_ref) == (10.0, -20.0, 30.0)
    assert m.model_type == "RampModel"
    assert raw.data.dtype == np.uint16  # the raw product is not changed
    path = tmp_path / "ramp.fits"
    ramp.to_fits(path)
    header = fits.getheader(path)
    assert (header["INSTRUME"], header["DETECTOR"], header["DATE-OBS"], header["DATALVL"]) == (
        "NIR", "NRCA1", "2026-03-01T12:00:00", 1)
    assert header["DATAMODL"] == "RampModel"


def test_step_rescales_when_divisor_differs_and_keeps_raw_pixeldq():
    data = np.full((1, 2, 2, 2), 50, np.uint16)
    pixeldq = np.array([[0, DQ.DROPOUT], [0, 0]], np.uint32)
    ramp = GroupScaleStep().process(raw_model(data, nframes=5, frame_divisor=4, pixeldq=pixeldq), {},
                                    GroupScaleStep.Params())
    assert np.allclose(ramp.data, 40.0)
    assert ramp.pixeldq.tolist() == [[0, DQ.DROPOUT], [0, 0]]


def test_step_refuses_non_raw_input():
    step = GroupScaleStep()
    with pytest.raises(InputDataError, match="already scaled"):
        step.process(RampModel(data=np.zeros((1, 2, 2, 2), np.float32)), {}, step.Params())
    with pytest.raises(InputDataError, match=r"\(nints, ngroups, ny, nx\)"):
        step.process(RawModel(data=np.zeros((2, 2), np.uint16)), {}, step.Params())
    with pytest.raises(InputDataError, match="FRMDIVSR = 0"):
        step.process(raw_model(np.zeros((1, 1, 2, 2), np.uint16), 4, 0), {}, step.Params())
