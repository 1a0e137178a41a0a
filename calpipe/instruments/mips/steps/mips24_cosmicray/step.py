"""Step class for mips24_cosmicray."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class Mips24CosmicRayStep(Step):
    """Flag 24 um cosmic rays JUMP_DET by their sharpness; data left as they are (no ramp on the ground)."""

    name = "mips24_cosmicray"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ()

    class Params(Params):
        nsigma: float = Field(5.0, gt=0, description="a hit stands this many errors above its neighbours' "
                              "median")
        sharpness: float = Field(3.0, ge=1, description="a hit's excess exceeds this many times its "
                                 "brightest side neighbour's (point sources stay below ~1.6)")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from .. import keywords
        from .algorithm import find_hits

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        usable = (dq & np.uint32(DQ.DO_NOT_USE)) == 0
        _, footprint = find_hits(data, err, usable, params.nsigma, params.sharpness)
        dq[footprint] |= np.uint32(DQ.JUMP_DET)
        return product
