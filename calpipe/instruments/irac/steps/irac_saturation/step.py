"""Step class for irac_saturation."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class IracSaturationStep(Step):
    """Flag saturated pixels SATURATED|DO_NOT_USE, and the ones whose difference fell again (fallback)."""

    name = "irac_saturation"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        saturation_insb: float = Field(44000.0, gt=0, description="InSb (ch1-2) full well: measured signal "
                                       "per read [DN]")
        saturation_sias: float = Field(55000.0, gt=0, description="Si:As (ch3-4) full well: measured signal "
                                       "per read [DN]")
        fraction: float = Field(0.95, gt=0, le=1, description="flag values at or above this fraction of "
                                "the largest unsaturated Fowler difference")
        radius: int = Field(3, ge=0, le=16, description="look this far along rows, columns and diagonals "
                            "for the two sides that prove a pixel fell (0: do not look)")
        ratio: float = Field(1.1, ge=1, description="a side proves a fall when saturated, or brighter than "
                             "the pixel by this factor (a noise margin) ...")
        bright_fraction: float = Field(0.5, gt=0, le=1, description="... and at least this fraction of the "
                                       "saturation threshold")
        first_read: float = Field(1.0, ge=0, description="ticks from reset to the first pedestal read")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ... import artifacts as art
        from .. import keywords
        from ..readout import is_insb
        from .algorithm import ceiling, find_saturated

        data, _, dq, artifacts = keywords.bcd_arrays(product, self.name)
        fowler = keywords.fowler(product)
        well = params.saturation_insb if is_insb(keywords.channel(product)) else params.saturation_sias
        threshold = params.fraction * ceiling(well, fowler.nfowler, fowler.wait, params.first_read)
        ignore = (dq & np.uint32(DQ.DO_NOT_USE | DQ.DEAD | DQ.HOT | DQ.LOW_QE)) != 0
        found = find_saturated(data, threshold, params.radius, params.ratio, params.bright_fraction, ignore)
        dq[found.saturated | found.fallen] |= np.uint32(DQ.SATURATED | DQ.DO_NOT_USE)
        artifacts[found.fallen] |= np.uint16(art.SATURATED_FALLBACK)
        return product
