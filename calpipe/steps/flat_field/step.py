"""Step class for flat_field."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class FlatFieldStep(Step):
    """Divide by the flat field; variances scale by 1/flat², bad flat pixels are flagged."""

    name = "flat_field"
    version = "1.0.0"
    reftypes = ("flat",)

    class Params(Params):
        min_flat: float = Field(0.0, ge=0.0, lt=1.0,
                                description="flat values at or below this are unusable (flagged)")

    def process(self, product, refs, params):
        from ..arrays import optional
        from .algorithm import apply_flat

        flat = refs["flat"]
        if flat.data is None:
            raise RefDataError(f"{flat.meta.filename}: flat reference has no SCI array")
        err = product.err if product.err is not None else product.data * 0
        dq = product.dq if product.dq is not None else (product.data * 0).astype("uint32")
        try:
            out = apply_flat(product.data, err, dq, _cut(flat.data, product), _cut(flat.err, product),
                             _cut(flat.dq, product), optional(product, "var_poisson"),
                             optional(product, "var_rnoise"), params.min_flat)
        except ValueError as exc:
            raise RefDataError(
                f"{flat.meta.filename}: {exc} (use a flat for this detector/subarray)") from exc
        product.data, product.err, product.dq = out.sci, out.err, out.dq
        if out.var_poisson is not None:
            product.var_poisson = out.var_poisson
        if out.var_rnoise is not None:
            product.var_rnoise = out.var_rnoise
        return product


def _cut(array, product):
    """The reference array's part under a subarray product (None stays None)."""
    from ..subarray import cutout

    return None if array is None else cutout(array, product)

