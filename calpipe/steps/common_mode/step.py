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
        amp_width: int | None = Field(None, ge=1, description="full-frame columns read by each amplifier "
                                      "(default: the instrument's, Instrument.reference_pixels)")
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
        amp_width = params.amp_width
        if amp_width is None:
            from calpipe.core.errors import InputDataError
            from calpipe.core.registry import get_registry

            name = str(product.meta.instrument.name or "").lower()
            instrument = get_registry().instruments.get(name)
            if instrument is None or instrument.reference_pixels is None:
                raise InputDataError(f"{product.meta.filename}: instrument '{name}' states no amplifier "
                                     "width (set common_mode's amp_width)")
            amp_width = instrument.reference_pixels.amp_width
        first = (product.meta.subarray.xstart or 1) - 1
        labels = column_groups(first, data.shape[-1], amp_width, params.odd_even_columns)
        offsets = measure_offsets(data, groupdq, pixeldq, labels, params.min_pixels)
        subtract_offsets(data, offsets, labels)
        return product
