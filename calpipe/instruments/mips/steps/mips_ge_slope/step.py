"""Step class for mips_ge_slope."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class MipsGeSlopeStep(Step):
    """Fit each good ramp segment (>= min_reads reads), combine by noise: a MipsBcdModel in DN/s, CRs out."""

    name = "mips_ge_slope"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("gain", "readnoise")

    class Params(Params):
        min_reads: int = Field(4, ge=2, le=100, description="reads a segment between jumps needs to be "
                               "fitted")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.arrays import optional, ramp_arrays

        from ... import artifacts as art
        from ...models import MipsBcdModel
        from .. import keywords
        from .algorithm import fit

        data, groupdq, pixeldq = ramp_arrays(product, self.name)
        shape = data.shape[-2:]
        gain = keywords.reference_data(refs["gain"], shape, "gain")
        readnoise = keywords.reference_data(refs["readnoise"], shape, "readnoise")
        dt = keywords.readout(product).dt
        f = fit(data, groupdq, pixeldq, gain, readnoise, dt, params.min_reads)
        bcd = MipsBcdModel(data=f.slope, err=f.err, dq=f.dq, var_poisson=f.var_poisson,
                           var_rnoise=f.var_rnoise)
        bcd.update(product)
        bcd.meta.data_level = 2
        bcd.meta.bunit_data = bcd.meta.bunit_err = "DN/s"
        jumped = ((groupdq & np.uint8(DQ.JUMP_DET)) != 0).any(axis=(0, 1))
        artifacts = np.zeros(shape, np.uint16)
        artifacts[jumped] |= np.uint16(art.RESP_BUMP)
        bcd.artifacts = artifacts
        for name in ("stim_ramps", "stim_times", "stim_dcenum"):
            value = optional(product, name)
            if value is not None:
                setattr(bcd, name, value)
        return bcd
