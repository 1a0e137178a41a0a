"""Step class for irac_muxbleed."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class IracMuxbleedStep(Step):
    """Subtract the InSb muxbleed trail after bright pixels along each readout channel; flag MUXBLEED."""

    name = "irac_muxbleed"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        threshold: float = Field(1.0e4, gt=0, description="pixels above this [DN per frame] bleed")
        reference_dn: float = Field(4.0e4, gt=0, description="the law is the trail of a pixel at this value "
                                    "[DN per frame]; trails scale linearly with the bleeding pixel")
        coefficients: tuple[float, float, float, float] = Field(
            (3.188, -2.497, 1.201, -0.244), description="log10 I = c0 + c1 x + c2 x² + c3 x³, x = log10(n+1)")
        flag_sigma: float = Field(0.5, ge=0, description="flag MUXBLEED where the removed trail exceeds "
                                  "this many read-noise sigma")

    def process(self, product, refs, params):
        import numpy as np

        from ... import artifacts as art
        from .. import keywords
        from ..readout import is_insb
        from .algorithm import remove

        data, _, _, artifacts = keywords.bcd_arrays(product, self.name)
        if not is_insb(keywords.channel(product)):
            return product  # the Si:As arrays do not bleed
        corrected, predicted = remove(data, params.threshold, params.reference_dn, tuple(params.coefficients),
                                      keywords.first_column(product))
        product.data = corrected
        artifacts[predicted > params.flag_sigma * keywords.read_noise_dn(product)] |= np.uint16(art.MUXBLEED)
        return product
