"""Step class for irac_fluxconv."""

from __future__ import annotations

import math

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.step import Step


class IracFluxConvStep(Step):
    """DN per frame to MJy/sr: × FLUXCONV (reference, MJy/sr per DN/s) / EXPTIME; records FLUXCONV, BUNIT."""

    name = "irac_fluxconv"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ("fluxconv",)

    def process(self, product, refs, params):
        from .. import keywords
        from .algorithm import convert

        data, err, _, _ = keywords.bcd_arrays(product, self.name)
        ref = refs["fluxconv"]
        value = ref.meta.photometry.conversion_megajanskys
        if value is None or not math.isfinite(value) or value <= 0:
            found = "missing" if value is None else f"{value}"
            raise RefDataError(f"{ref.meta.filename}: FLUXCONV (PHOTMJSR) is {found} in the fluxconv "
                               "reference (it must be a positive number [MJy/sr per DN/s]; fix or replace "
                               "the file)")
        unit = product.meta.bunit_data
        if unit is not None and unit.replace(" ", "").lower() == "mjy/sr":
            raise InputDataError(f"{product.meta.filename}: BUNIT is already {unit}; irac_fluxconv would "
                                 "convert it twice (give a frame in DN)")
        product.data, product.err = convert(data, err, float(value), keywords.exposure_time(product))
        product.meta.irac.fluxconv = float(value)
        product.meta.photometry.conversion_megajanskys = float(value)
        product.meta.bunit_data = product.meta.bunit_err = "MJy/sr"
        return product
