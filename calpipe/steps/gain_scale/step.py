"""Step class for gain_scale."""

from __future__ import annotations

from calpipe.core.errors import InputDataError
from calpipe.core.step import Step


class GainScaleStep(Step):
    """Multiply the rate (and ERR, variances by the square) by GAINFACT when it is set and not 1."""

    name = "gain_scale"
    version = "1.0.0"
    reftypes = ()

    def process(self, product, refs, params):
        from ..arrays import optional
        from .algorithm import scale_image

        factor = product.meta.exposure.gain_factor
        if factor is None or factor == 1:
            return product
        if not factor > 0:
            raise InputDataError(f"{product.meta.filename}: GAINFACT = {factor} is not a gain factor "
                                 "(must be > 0; fix the exposure keywords)")
        if product.data is None:
            raise InputDataError(f"{product.meta.filename}: gain_scale needs a SCI array")
        scale_image(factor, product.data, optional(product, "err"),
                    (optional(product, "var_poisson"), optional(product, "var_rnoise")))
        return product

