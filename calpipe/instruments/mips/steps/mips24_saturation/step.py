"""Step class for mips24_saturation."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class Mips24SaturationStep(Step):
    """Saturated 24 um pixels take the first-difference rate: SATURATED | FLUX_ESTIMATED, DIFF_SUBSTITUTED."""

    name = "mips24_saturation"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("saturation", "linearity")

    class Params(Params):
        nsigma: float = Field(3.0, ge=0, le=10, description="flag when the projected last sample comes "
                              "within this many sigma of the well")
        consistency: float = Field(0.8, gt=0, le=1, description="a saturated pixel's slope is at least this "
                                   "fraction of a clipped ramp's at its difference rate (else: a cosmic ray)")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ... import artifacts as art
        from .. import keywords
        from ..mips24_slope.algorithm import difference_variance
        from .algorithm import consistent, hard_saturated, saturated

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        diff = product.first_diff if product.hasattr("first_diff") else None
        if diff is None or diff.shape != data.shape:
            raise InputDataError(f"{keywords.name(product)}: no FIRSTDIF plane; run mips24_slope first")
        ro = keywords.readout(product)
        gain, readnoise = keywords.noise(product)
        well = keywords.reference_data(refs["saturation"], data.shape, "saturation")
        alpha = keywords.reference_data(refs["linearity"], data.shape, "linearity")
        alpha = alpha[0] if alpha.ndim == 3 else alpha
        dvar_p, dvar_r = difference_variance(diff, ro.dt, gain, readnoise / gain)
        diff_err = np.sqrt(dvar_p.astype(np.float64) + dvar_r)
        found = saturated(diff, diff_err, alpha, well, ro.times, params.nsigma)
        found[found] &= consistent(data[found], diff[found], alpha[found], well[found], ro.times,
                                   params.consistency)
        hard = found & hard_saturated(diff, alpha, well, ro.times)
        soft = found & ~hard
        data[soft] = diff[soft]
        err[soft] = diff_err[soft].astype(np.float32)
        for name, value in (("var_poisson", dvar_p), ("var_rnoise", dvar_r)):
            plane = getattr(product, name) if product.hasattr(name) else None
            if plane is not None:
                plane[soft] = value[soft]
        dq[soft] |= np.uint32(DQ.SATURATED | DQ.FLUX_ESTIMATED)
        dq[hard] |= np.uint32(DQ.SATURATED | DQ.DO_NOT_USE)
        artifacts[soft] |= np.uint16(art.DIFF_SUBSTITUTED)
        return product
