"""Step class for refpix."""

from __future__ import annotations

from pydantic import Field, field_validator

from calpipe.core.params import Params
from calpipe.core.step import Step


class RefPixStep(Step):
    """Subtract amplifier offsets (top/bottom reference rows) and row drift (side reference columns).

    Only full-frame data carry the reference-pixel border the correction
    needs; the instrument plugin says what a full frame is, how wide the border
    and each amplifier are (``Instrument.reference_pixels``). Any other product
    (a subarray, or an instrument without reference pixels) is returned
    unchanged (the runner still records the step as run, which is true: there
    was nothing to correct with).
    """

    name = "refpix"
    version = "1.0.0"
    reftypes = ()

    class Params(Params):
        odd_even_columns: bool = Field(True, description="separate offsets for odd and even columns "
                                                         "of each amplifier")
        use_side_ref_pixels: bool = Field(True, description="also remove row drift (1/f noise) "
                                                            "measured on the side reference columns")
        side_smoothing_length: int = Field(11, ge=1, description="rows in the running median of the "
                                                                 "side reference columns (odd)")
        side_gain: float = Field(1.0, ge=0.0, description="fraction of the side-column drift subtracted")

        @field_validator("side_smoothing_length")
        @classmethod
        def _odd(cls, value: int) -> int:
            if value % 2 == 0:
                raise ValueError(f"must be odd (a window centred on its row), e.g. {value + 1}")
            return value

    def process(self, product, refs, params):
        from calpipe.core.models.dqflags import DQ
        from calpipe.core.registry import get_registry

        from ..arrays import ramp_arrays
        from .algorithm import correct_refpix

        data, _, pixeldq = ramp_arrays(product, self.name)
        instrument = get_registry().instruments.get(str(product.meta.instrument.name or "").lower())
        geometry = instrument.reference_pixels if instrument else None
        if geometry is None or data.shape[-2:] != tuple(geometry.frame):
            return product  # subarray, or a detector without reference pixels: no border to measure
        correct_refpix(data, (pixeldq & DQ.BAD_REF_PIXEL) != 0, amp_width=geometry.amp_width,
                       nref=geometry.border, odd_even=params.odd_even_columns,
                       use_side=params.use_side_ref_pixels, side_smoothing=params.side_smoothing_length,
                       side_gain=params.side_gain)
        return product

