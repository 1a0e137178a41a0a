"""photom: DN/s to MJy/sr with the reference PHOTMJSR."""

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.products import ImageModel, ReferenceFileModel
from calpipe.steps.photom.algorithm import convert
from calpipe.steps.photom.step import PhotomStep

PHOTMJSR, PIXAR_SR = 0.25, 2.25e-14


def reference(photmjsr=PHOTMJSR, pixar_sr=PIXAR_SR):
    ref = ReferenceFileModel(data=np.full((1, 1), photmjsr or 0, np.float32))
    ref.meta.filename = "photom.fits"
    ref.meta.reftype = "photom"
    ref.meta.photometry.conversion_megajanskys = photmjsr
    ref.meta.photometry.pixelarea_steradians = pixar_sr
    return ref


def rate():
    model = ImageModel(data=np.array([[4.0, -8.0]], np.float32), err=np.array([[2.0, 1.0]], np.float32),
                       dq=np.zeros((1, 2), np.uint32), var_poisson=np.array([[3.0, 0.0]], np.float32),
                       var_rnoise=np.array([[1.0, 1.0]], np.float32))
    model.meta.filename = "x_rate.fits"
    model.meta.bunit_data = model.meta.bunit_err = "DN/s"
    return model


def test_convert_by_hand():
    sci, err, var = np.array([4.0], np.float32), np.array([2.0], np.float32), np.array([16.0], np.float32)
    convert(0.5, sci, err, (var, None))
    assert (sci[0], err[0], var[0]) == (2.0, 1.0, 4.0)


def test_step_converts_and_records(tmp_path):
    out = PhotomStep().process(rate(), {"photom": reference()}, PhotomStep.Params())
    assert out.data.tolist() == [[1.0, -2.0]], "data"
    assert out.err.tolist() == [[0.5, 0.25]], "error"
    assert out.var_poisson.tolist() == [[0.1875, 0.0]], "Poisson variance"
    assert out.var_rnoise.tolist() == [[0.0625, 0.0625]], "read-noise variance"
    assert out.meta.photometry.conversion_megajanskys == PHOTMJSR
    assert out.meta.photometry.pixelarea_steradians == PIXAR_SR
    out.to_fits(tmp_path / "cal.fits")
    with fits.open(tmp_path / "cal.fits") as hdul:
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr", "SCI BUNIT"
        assert hdul["ERR"].header["BUNIT"] == "MJy/sr", "ERR BUNIT"
        assert hdul[0].header["PHOTMJSR"] == PHOTMJSR, "PHOTMJSR keyword"
        assert hdul[0].header["PIXAR_SR"] == PIXAR_SR, "PIXAR_SR keyword"


@pytest.mark.parametrize(("ref", "keyword"), [(reference(photmjsr=None), "PHOTMJSR is missing"),
                                              (reference(photmjsr=-1.0), "PHOTMJSR is -1.0"),
                                              (reference(pixar_sr=None), "PIXAR_SR is missing")])
def test_bad_reference_is_refused(ref, keyword):
    with pytest.raises(RefDataError, match=f"photom.fits: keyword {keyword}"):
        PhotomStep().process(rate(), {"photom": ref}, PhotomStep.Params())


def test_already_calibrated_input_is_refused():
    model = rate()
    model.meta.bunit_data = "MJy/sr"
    with pytest.raises(InputDataError, match="already MJy/sr"):
        PhotomStep().process(model, {"photom": reference()}, PhotomStep.Params())
