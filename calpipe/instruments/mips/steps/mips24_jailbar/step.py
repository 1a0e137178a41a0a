"""Step class for mips24_jailbar."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class Mips24JailbarStep(Step):
    """Subtract each readout channel's (column mod 4) sky offset from their mean; mark JAILBAR."""

    name = "mips24_jailbar"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ()

    class Params(Params):
        clip: float = Field(3.0, gt=0, le=20, description="sky pixels lie within this many robust sigma of "
                            "the sky")
        min_significance: float = Field(3.0, ge=0, description="apply offsets larger than this many standard "
                                        "errors")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ... import artifacts as art
        from .. import keywords
        from .algorithm import channel_offsets, equalise

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        usable = (dq & np.uint32(DQ.DO_NOT_USE | DQ.SATURATED)) == 0
        found = channel_offsets(data, usable, params.clip)
        corrected, applied = equalise(data, found, params.min_significance)
        product.data = corrected
        if applied.any():
            extra = np.where(np.isfinite(found.errors), found.errors, 0.0)[np.arange(data.shape[1]) % 4]
            err[...] = np.sqrt(err.astype(np.float64) ** 2 + np.where(applied, extra[None, :], 0.0) ** 2)
            artifacts[applied] |= np.uint16(art.JAILBAR)
        return product
