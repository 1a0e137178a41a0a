"""Step classes for scale_offset: every released version stays registered."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step

_VARIANCES = ("var_poisson", "var_rnoise")


class ScaleOffsetStep_1_0_0(Step):
    """Rescale the image: SCI·scale + offset, ERR·scale (variances ·scale²)."""

    name = "scale_offset"
    version = "1.0.0"
    instruments = None  # any instrument
    reftypes = ()  # needs no reference files

    class Params(Params):
        scale: float = Field(1.0, gt=0, description="multiply SCI and ERR by this")
        offset: float = Field(0.0, description="then add this to SCI (in the data units)")

    def process(self, product, refs, params):
        from .algorithm import scale_error, scale_offset, scale_variance

        product.data = scale_offset(product.data, params.scale, params.offset)
        if product.err is not None:
            product.err = scale_error(product.err, params.scale)
        for name in _VARIANCES:
            if product.hasattr(name):
                setattr(product, name, scale_variance(getattr(product, name), params.scale))
        return product


class ScaleOffsetStep(ScaleOffsetStep_1_0_0):
    """Rescale the image: SCI·scale + offset, ERR·scale; DO_NOT_USE pixels become NaN.

    New in 1.1.0: SCI and ERR are NaN wherever DQ has DO_NOT_USE, so no one uses
    those values by accident. The output changed, so the version did; 1.0.0
    stays registered and runnable (pin it with `version: 1.0.0` in a pipeline).
    """

    version = "1.1.0"

    def process(self, product, refs, params):
        from .algorithm import blank_unusable

        product = super().process(product, refs, params)
        if product.dq is not None:
            product.data = blank_unusable(product.data, product.dq)
            if product.err is not None:
                product.err = blank_unusable(product.err, product.dq)
        return product
