"""Step class for photom."""

from __future__ import annotations

import math

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.step import Step


class PhotomStep(Step):
    """Convert DN/s to MJy/sr with the reference PHOTMJSR (variances × its square); record PIXAR_SR."""

    name = "photom"
    version = "1.0.0"
    reftypes = ("photom",)

    def process(self, product, refs, params):
        from ..arrays import optional
        from .algorithm import convert

        ref = refs["photom"]
        values = {}
        for keyword, attr in (("PHOTMJSR", "conversion_megajanskys"), ("PIXAR_SR", "pixelarea_steradians")):
            value = getattr(ref.meta.photometry, attr)
            if value is None or not math.isfinite(value) or value <= 0:
                found = "missing" if value is None else f"{value}"
                raise RefDataError(f"{ref.meta.filename}: keyword {keyword} is {found} in the photom "
                                   "reference (it must be a positive number; fix or replace the file)")
            values[attr] = float(value)
        unit = product.meta.bunit_data
        if unit is not None and unit.replace(" ", "").lower() == "mjy/sr":
            raise InputDataError(f"{product.meta.filename}: BUNIT is already {unit}; photom would convert "
                                 "it twice (give the rate product in DN/s)")
        if product.data is None or product.data.ndim != 2:
            raise InputDataError(f"{product.meta.filename}: photom needs a 2-D rate image")
        convert(values["conversion_megajanskys"], product.data, optional(product, "err"),
                (optional(product, "var_poisson"), optional(product, "var_rnoise")))
        product.meta.photometry.conversion_megajanskys = values["conversion_megajanskys"]
        product.meta.photometry.pixelarea_steradians = values["pixelarea_steradians"]
        product.meta.bunit_data = "MJy/sr"
        product.meta.bunit_err = "MJy/sr"
        return product

