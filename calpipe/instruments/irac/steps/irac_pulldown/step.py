"""Step class for irac_pulldown."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class IracPulldownStep(Step):
    """Subtract the constant column offset beside bright pixels, each side apart; flag PULLDOWN."""

    name = "irac_pulldown"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        threshold: float = Field(2.0e4, gt=0, description="pixels at or above this [DN per frame] (or "
                                 "saturated) may pull their column down")
        mask_radius: int = Field(5, ge=0, description="rows around a bright pixel left out of the estimate")
        neighbours: int = Field(3, ge=1, le=16, description="reference columns on each side")
        min_rows: int = Field(10, ge=2, description="fewest sky rows an offset may rest on")
        min_significance: float = Field(3.0, ge=0, description="apply offsets larger than this many "
                                        "standard errors")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ... import artifacts as art
        from .. import keywords
        from .algorithm import correct

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        usable = (dq & np.uint32(DQ.DO_NOT_USE)) == 0
        with np.errstate(invalid="ignore"):
            bright = (data >= params.threshold) | ((dq & np.uint32(DQ.SATURATED)) != 0)
        out = correct(data, usable, bright, params.mask_radius, params.neighbours, params.min_rows,
                      params.min_significance)
        product.data = out.data
        if out.applied.any():
            err[...] = np.sqrt(err.astype(np.float64) ** 2 + out.variance).astype(np.float32)
            artifacts[out.applied] |= np.uint16(art.PULLDOWN)
        return product
