"""Step class for irac_linearity."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class IracLinearityStep(Step):
    """Invert the per-read quadratic Q(1+αQ) for a Fowler difference: D_m = D + αkD², k from N and W."""

    name = "irac_linearity"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ("linearity",)

    class Params(Params):
        first_read: float = Field(1.0, ge=0, description="ticks (0.2 s) from reset to the first "
                                  "pedestal read")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.subarray import cutout

        from .. import keywords
        from .algorithm import fowler_factor, linearize

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        fowler = keywords.fowler(product)
        ref = refs["linearity"]
        alpha = ref.data
        if alpha is None:
            raise RefDataError(f"{ref.meta.filename}: linearity reference has no SCI array")
        if alpha.ndim == 3 and alpha.shape[0] == 1:
            alpha = alpha[0]
        try:
            alpha = cutout(alpha, product)
            if alpha.shape != data.shape:
                raise ValueError(f"alpha of shape {ref.data.shape} does not match the data's {data.shape}")
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a (1, ny, nx) alpha map for this "
                               "channel)") from exc
        out = linearize(data, alpha, fowler_factor(fowler.nfowler, fowler.wait, params.first_read))
        product.data = out.data
        err[...] = (err * out.slope).astype(np.float32)
        dq[out.uncorrected] |= np.uint32(DQ.NO_LIN_CORR)
        if ref.dq is not None:
            dq |= cutout(ref.dq, product).astype(np.uint32)
        return product
