"""Step class for mips_illumination."""

from __future__ import annotations

from calpipe.core.step import Step


class MipsIlluminationStep(Step):
    """Divide by the illumination correction (stim units to MIU); variances scale alike."""

    name = "mips_illumination"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("illumination",)

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.arrays import optional

        from .. import keywords
        from .algorithm import correct

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        illum = keywords.reference_data(refs["illumination"], data.shape, "illumination")
        out, new_err, scale, bad = correct(data, err, illum)
        product.data, product.err = out, new_err
        for name in ("var_poisson", "var_rnoise"):
            value = optional(product, name)
            if value is not None:
                setattr(product, name, (value * scale * scale).astype(np.float32))
        dq[bad] |= np.uint32(DQ.DO_NOT_USE)
        product.meta.bunit_data = product.meta.bunit_err = "MIU"
        return product
