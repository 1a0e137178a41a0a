"""Step class for mips24_dark."""

from __future__ import annotations

from calpipe.core.step import Step


class Mips24DarkStep(Step):
    """Subtract the dark rate [DN/s] from a 24 um slope image; pixels without a dark value DO_NOT_USE."""

    name = "mips24_dark"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("dark",)

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from .. import keywords
        from .algorithm import subtract

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        ref = refs["dark"]
        dark = keywords.reference_data(ref, data.shape, "dark")
        out, new_err, missing = subtract(data, err, dark, ref.err)
        product.data, product.err = out, new_err
        dq[missing] |= np.uint32(DQ.DO_NOT_USE)
        if ref.dq is not None:
            dq |= ref.dq.astype(np.uint32)
        return product
