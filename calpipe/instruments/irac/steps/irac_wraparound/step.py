"""Step class for irac_wraparound."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class IracWraparoundStep(Step):
    """Unwrap Fowler sums that wrapped in the 16-bit word: negative sums exactly, lone overflows if any."""

    name = "irac_wraparound"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        wrap_threshold: float = Field(60000.0, gt=0, description="values at or above this [DN per frame] "
                                      "are wrapped negative sums (no pixel gives that much)")
        max_negative: float = Field(2000.0, ge=0, description="most negative plausible value [DN per frame], "
                                    "bounds the neighbour-based unwrapping")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from .. import keywords
        from ..readout import frame_variance, wrap_period
        from .algorithm import unwrap

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        fowler = keywords.fowler(product)
        gain, readnoise = keywords.noise(product)
        result = unwrap(data, wrap_period(fowler.barrel, fowler.nfowler), params.wrap_threshold,
                        params.max_negative)
        moved = result.exact | result.estimated
        if moved.any():  # their ERR was computed for the wrapped value
            var = frame_variance(result.data[moved], gain, readnoise, fowler.nfowler, fowler.wait,
                                 fowler.barrel)
            err[moved] = np.sqrt(var).astype(np.float32)
        dq[result.estimated] |= np.uint32(DQ.FLUX_ESTIMATED)
        product.data = result.data
        return product
