"""Step class for common_mode."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class CommonModeStep(Step):
    """Remove per-group amplifier offsets of readouts without reference pixels, measured from the data.

    A product with reference pixels (REFERENCE_PIXEL in PIXELDQ) is returned unchanged: refpix
    measures its offsets better.
    """

    name = "common_mode"
    version = "1.0.0"
    reftypes = ()

    class Params(Params):
        amp_width: int = Field(512, ge=1, description="full-frame columns read by each amplifier")
        odd_even_columns: bool = Field(True, description="separate offsets for odd and even columns")
        min_pixels: int = Field(100, ge=10, description="fewest usable pixels a column group needs "
                                                        "(fewer: left uncorrected)")

    def process(self, product, refs, params):
        from calpipe.core.models.dqflags import DQ

        from ..arrays import ramp_arrays
        from .algorithm import column_groups, measure_offsets, subtract_offsets

        data, groupdq, pixeldq = ramp_arrays(product, self.name)
        if ((pixeldq & DQ.REFERENCE_PIXEL) != 0).any():
            return product
        first = (product.meta.subarray.xstart or 1) - 1
        labels = column_groups(first, data.shape[-1], params.amp_width, params.odd_even_columns)
        offsets = measure_offsets(data, groupdq, pixeldq, labels, params.min_pixels)
        subtract_offsets(data, offsets, labels)
        return product
