"""Step class for saturation."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError, RefDataError
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
        from ..subarray import cutout
        from .algorithm import flag_saturation

        data, groupdq, pixeldq = _ramp_arrays(product, self.name)
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


def _ramp_arrays(product, step: str):
    """(data, groupdq, pixeldq) of a float ramp product, creating empty DQ planes if absent."""
    import numpy as np

    data = product.data
    if data is None or data.ndim != 4 or data.dtype.kind != "f":
        raise InputDataError(f"{product.meta.filename}: {step} needs float ramps (nints, ngroups, ny, nx); "
                             "run group_scale first")
    if product.groupdq is None:
        product.groupdq = np.zeros(data.shape, np.uint8)
    if product.pixeldq is None:
        product.pixeldq = np.zeros(data.shape[-2:], np.uint32)
    return data, product.groupdq, product.pixeldq
