"""assign_wcs: CD-matrix signs checked against astropy on the written FITS header."""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from calpipe.core.errors import InputDataError
from calpipe.core.models.products import ImageModel, RampModel
from calpipe.steps.assign_wcs.algorithm import cd_matrix, tan_wcs
from calpipe.steps.assign_wcs.step import AssignWcsStep

SCALE = 0.031 / 3600  # deg/pixel


def test_cd_matrix_by_hand():
    s = 2.0
    assert cd_matrix(s, 0.0) == pytest.approx((-2.0, 0.0, 0.0, 2.0))  # north up, east left
    assert cd_matrix(s, 90.0) == pytest.approx((0.0, 2.0, 2.0, 0.0), abs=1e-15)  # +y east, +x north
    assert cd_matrix(s, 180.0) == pytest.approx((2.0, 0.0, 0.0, -2.0), abs=1e-15)


def test_subarray_origin_shifts_crpix():
    wcs = tan_wcs(10.0, 20.0, 0.0, 0.031, (1024.5, 1024.5), origin=(1001, 1011))
    assert (wcs["crpix1"], wcs["crpix2"]) == (24.5, 14.5)
    assert (wcs["crval1"], wcs["crval2"]) == (10.0, 20.0)
    assert tan_wcs(-10.0, 0.0, 0.0, 0.031, (1.0, 1.0))["crval1"] == 350.0


def image(shape=(64, 64), ra=150.0, dec=30.0, roll=0.0, xstart=None, ystart=None):
    model = ImageModel(data=np.zeros(shape, np.float32))
    model.meta.filename = "x_rate.fits"
    model.meta.pointing.ra_ref, model.meta.pointing.dec_ref, model.meta.pointing.roll_ref = ra, dec, roll
    model.meta.subarray.xstart, model.meta.subarray.ystart = xstart, ystart
    return model


def written_wcs(model, path):
    model.to_fits(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a broken header would warn
        header = fits.getheader(path, "SCI")
        wcs = WCS(header)
    return wcs, header


def sky(wcs, x, y):
    """Sky position of 1-based FITS pixel (x, y)."""
    ra, dec = wcs.all_pix2world([[x, y]], 1)[0]
    return SkyCoord(ra * u.deg, dec * u.deg)


@pytest.mark.parametrize("roll", [0.0, 30.0, 90.0, 200.0])
def test_written_header_is_a_valid_wcs_with_north_and_east_right(tmp_path, roll):
    params = AssignWcsStep.Params()
    model = AssignWcsStep().process(image(roll=roll, xstart=993, ystart=993), {}, params)
    wcs, header = written_wcs(model, tmp_path / "x.fits")
    assert wcs.has_celestial, "WCS is celestial"
    assert list(wcs.wcs.ctype) == ["RA---TAN", "DEC--TAN"], "CTYPE is TAN"
    assert header["CUNIT1"] == "deg", "CUNIT1"
    assert header["CRPIX1"] == 32.5, "CRPIX1"
    assert header["CRPIX2"] == 32.5, "CRPIX2"
    centre = SkyCoord(150.0 * u.deg, 30.0 * u.deg)
    assert sky(wcs, 32.5, 32.5).separation(centre).arcsec < 1e-6
    up, right = sky(wcs, 32.5, 132.5), sky(wcs, 132.5, 32.5)  # 100 px along +y and +x
    assert up.separation(centre).arcsec == pytest.approx(3.1, rel=1e-6)
    assert right.separation(centre).arcsec == pytest.approx(3.1, rel=1e-6)
    assert centre.position_angle(up).deg == pytest.approx(roll % 360, abs=1e-4)  # +y at PA = ROLL_REF
    assert centre.position_angle(right).deg == pytest.approx((roll - 90) % 360, abs=1e-4)  # +x 90 deg west of it


def test_roll_0_up_is_north_and_roll_90_up_is_east(tmp_path):
    model = image(shape=(64, 64), roll=0.0, dec=0.0, xstart=993, ystart=993)  # crpix inside: 32.5
    wcs0, _ = written_wcs(AssignWcsStep().process(model, {}, AssignWcsStep.Params()), tmp_path / "a.fits")
    ra, dec = wcs0.all_pix2world([[32.5, 132.5]], 1)[0]
    assert ra == pytest.approx(150.0, abs=1e-12), "RA"
    assert dec == pytest.approx(100 * SCALE, rel=1e-9), "Dec"
    model = image(shape=(64, 64), roll=90.0, dec=0.0, xstart=993, ystart=993)
    wcs90, _ = written_wcs(AssignWcsStep().process(model, {}, AssignWcsStep.Params()), tmp_path / "b.fits")
    ra, dec = wcs90.all_pix2world([[32.5, 132.5]], 1)[0]
    assert ra == pytest.approx(150.0 + 100 * SCALE, rel=1e-12), "RA"
    assert dec == pytest.approx(0.0, abs=1e-12), "Dec"


def test_subarray_sees_the_same_sky_as_the_full_frame(tmp_path):
    # a product without SUBSTRT is the whole detector: its WCS does not depend on its size
    full = AssignWcsStep().process(image(shape=(8, 8), roll=37.0), {}, AssignWcsStep.Params())
    sub = AssignWcsStep().process(image(shape=(64, 64), roll=37.0, xstart=1501, ystart=201), {},
                                  AssignWcsStep.Params(pixel_scale_arcsec=0.031))
    assert (sub.meta.wcsinfo.crpix1, sub.meta.wcsinfo.crpix2) == (1024.5 - 1500, 1024.5 - 200)
    wcs_full, _ = written_wcs(full, tmp_path / "full.fits")
    wcs_sub, _ = written_wcs(sub, tmp_path / "sub.fits")
    # subarray pixel (10, 20) is full-frame pixel (1510, 220)
    assert sky(wcs_sub, 10, 20).separation(sky(wcs_full, 1510, 220)).arcsec < 1e-6


def test_missing_pointing_keyword_is_named():
    model = image()
    model.meta.pointing.roll_ref = None
    with pytest.raises(InputDataError, match="ROLL_REF is missing"):
        AssignWcsStep().process(model, {}, AssignWcsStep.Params())
    model = image()
    model.meta.pointing.ra_ref = None
    with pytest.raises(InputDataError, match="RA_REF is missing"):
        AssignWcsStep().process(model, {}, AssignWcsStep.Params())
    with pytest.raises(InputDataError, match="DEC_REF = 95"):
        AssignWcsStep().process(image(dec=95.0), {}, AssignWcsStep.Params())


def test_ramps_are_refused():
    ramp = RampModel(data=np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(InputDataError, match="works on images"):
        AssignWcsStep().process(ramp, {}, AssignWcsStep.Params())
