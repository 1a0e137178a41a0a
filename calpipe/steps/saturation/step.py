"""Step class for saturation."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class SaturationStep(Step):
    """Flag saturated groups (and later ones, grown to neighbours) and A/D-floor groups in the GROUPDQ."""

    name = "saturation"
    version = "1.0.0"
    reftypes = ("saturation",)

    class Params(Params):
        n_pix_grow_sat: int = Field(1, ge=0, description="also flag this many 4-connected neighbours "
                                                         "of a saturated pixel (charge spill)")

    def process(self, product, refs, params):
        from ..arrays import ramp_arrays
        from ..subarray import cutout
        from .algorithm import flag_saturation

        data, groupdq, pixeldq = ramp_arrays(product, self.name)
        ref = refs["saturation"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: saturation reference has no SCI array")
        try:
            ref_dq = None if ref.dq is None else cutout(ref.dq, product)
            flag_saturation(data, groupdq, pixeldq, cutout(ref.data, product), params.n_pix_grow_sat, ref_dq)
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a saturation map for this "
                               "detector/subarray)") from exc
        return product

