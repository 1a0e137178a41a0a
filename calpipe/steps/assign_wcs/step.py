"""Step class for assign_wcs."""

from __future__ import annotations

import math

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class AssignWcsStep(Step):
    """Write a FITS TAN WCS (CRVAL from RA_REF/DEC_REF, CD from ROLL_REF and the pixel scale) into SCI."""

    name = "assign_wcs"
    version = "1.0.0"
    reftypes = ()

    class Params(Params):
        pixel_scale_arcsec: float = Field(0.031, gt=0, description="pixel scale [arcsec/pixel]")
        crpix1_full: float = Field(1024.5, description="full-frame column (1-based) of the pointing "
                                                       "reference point")
        crpix2_full: float = Field(1024.5, description="full-frame row (1-based) of the pointing "
                                                       "reference point")

    def process(self, product, refs, params):
        from .algorithm import tan_wcs

        try:
            wcsinfo = product.meta.wcsinfo
        except AttributeError:
            raise InputDataError(f"{product.meta.filename}: a {type(product).__name__} has no WCS keywords; "
                                 "assign_wcs works on images (run it after ramp fitting)") from None
        pointing = product.meta.pointing
        values = {}
        for keyword, attr in (("RA_REF", "ra_ref"), ("DEC_REF", "dec_ref"), ("ROLL_REF", "roll_ref")):
            value = getattr(pointing, attr)
            if value is None or not math.isfinite(value):
                raise InputDataError(f"{product.meta.filename}: keyword {keyword} is "
                                     f"{'missing' if value is None else value}; assign_wcs needs the "
                                     "pointing (set RA_REF, DEC_REF and ROLL_REF in the primary header)")
            values[attr] = value
        if not -90 <= values["dec_ref"] <= 90:
            raise InputDataError(f"{product.meta.filename}: DEC_REF = {values['dec_ref']} is not a "
                                 "declination (fix the pointing keywords)")
        sub = product.meta.subarray
        origin = (sub.xstart or 1, sub.ystart or 1)  # no SUBSTRT: the image is the whole detector
        wcs = tan_wcs(values["ra_ref"], values["dec_ref"], values["roll_ref"], params.pixel_scale_arcsec,
                      (params.crpix1_full, params.crpix2_full), origin)
        for key, value in wcs.items():
            setattr(wcsinfo, key, value)
        return product
