"""Step class for dq_init."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class DQInitStep(Step):
    """Initialise data quality from the bad-pixel mask (and flag non-finite pixels)."""

    name = "dq_init"
    version = "1.0.0"
    reftypes = ("mask",)

    class Params(Params):
        flag_nonfinite: bool = Field(True, description="mark NaN/inf science pixels DO_NOT_USE")

    def process(self, product, refs, params):
        from ..subarray import cutout
        from .algorithm import init_dq

        mask = refs["mask"]
        if mask.dq is None:
            raise RefDataError(f"{mask.meta.filename}: mask reference has no DQ array")
        plane = "pixeldq" if product.hasattr("pixeldq") else "dq"  # ramps keep per-pixel DQ apart
        try:
            dq = init_dq(product.data, getattr(product, plane), cutout(mask.dq, product),
                         params.flag_nonfinite)
        except ValueError as exc:
            raise RefDataError(
                f"{mask.meta.filename}: {exc} (use a mask for this detector/subarray)") from exc
        setattr(product, plane, dq)
        return product
