"""Step class for mips24_droop."""

from __future__ import annotations

from calpipe.core.step import Step


class Mips24DroopStep(Step):
    """Subtract droop c x R, R = mean(array) / (1 + mean(c)); records DROOPSUB (median c R, DN/s)."""

    name = "mips24_droop"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("droop",)

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.arrays import optional

        from .. import keywords
        from .algorithm import remove

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        coeff = keywords.reference_data(refs["droop"], data.shape, "droop")
        corrected, _, droop = remove(data, coeff)
        var_p = optional(product, "var_poisson")
        if var_p is not None:  # the droop is electronic: no shot noise of its own
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(data > 0, np.clip(corrected / data, 0.0, 1.0), 1.0)
            new_p = (var_p * share).astype(np.float32)
            err[...] = np.sqrt(np.maximum(err.astype(np.float64) ** 2 - var_p + new_p, 0.0))
            product.var_poisson = new_p
        product.data = corrected
        dq[~np.isfinite(coeff)] |= np.uint32(DQ.DO_NOT_USE)
        product.meta.mips.droop = float(np.median(droop))
        return product
