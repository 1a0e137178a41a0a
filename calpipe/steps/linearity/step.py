"""Step class for linearity."""

from __future__ import annotations

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.step import Step


class LinearityStep(Step):
    """Correct non-linearity with per-pixel polynomial coefficients (saturated groups left alone)."""

    name = "linearity"
    version = "1.0.0"
    reftypes = ("linearity",)

    def process(self, product, refs, params):
        from ..subarray import cutout
        from .algorithm import correct_linearity

        data, groupdq, pixeldq = _ramp_arrays(product, self.name)
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
