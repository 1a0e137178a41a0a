"""Step class for superbias."""

from __future__ import annotations

from calpipe.core.errors import RefDataError
from calpipe.core.step import Step


class SuperBiasStep(Step):
    """Subtract the bias map from every group; pixels without a bias value are flagged DO_NOT_USE."""

    name = "superbias"
    version = "1.0.0"
    reftypes = ("superbias",)

    def process(self, product, refs, params):
        from ..arrays import ramp_arrays
        from ..subarray import cutout
        from .algorithm import subtract_bias

        data, _, pixeldq = ramp_arrays(product, self.name)
        ref = refs["superbias"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: superbias reference has no SCI array")
        try:
            ref_dq = None if ref.dq is None else cutout(ref.dq, product)
            subtract_bias(data, pixeldq, cutout(ref.data, product), ref_dq)
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a superbias for this "
                               "detector/subarray)") from exc
        return product

