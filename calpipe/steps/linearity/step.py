"""Step class for linearity."""

from __future__ import annotations

from calpipe.core.errors import RefDataError
from calpipe.core.step import Step


class LinearityStep(Step):
    """Correct non-linearity with per-pixel polynomial coefficients (saturated groups left alone)."""

    name = "linearity"
    version = "1.0.0"
    reftypes = ("linearity",)

    def process(self, product, refs, params):
        from ..arrays import ramp_arrays
        from ..subarray import cutout
        from .algorithm import correct_linearity

        data, groupdq, pixeldq = ramp_arrays(product, self.name)
        ref = refs["linearity"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: linearity reference has no SCI array of coefficients")
        try:
            ref_dq = None if ref.dq is None else cutout(ref.dq, product)
            correct_linearity(data, groupdq, pixeldq, cutout(ref.data, product), ref_dq)
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use linearity coefficients for this "
                               "detector/subarray)") from exc
        return product

