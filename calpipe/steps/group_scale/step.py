"""Step class for group_scale."""

from __future__ import annotations

from calpipe.core.errors import InputDataError
from calpipe.core.step import Step


class GroupScaleStep(Step):
    """Make a float32 RampModel from raw uint16 ramps, rescaling groups by FRMDIVSR/NFRAMES if needed."""

    name = "group_scale"
    version = "1.0.0"
    reftypes = ()

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.products import RampModel

        from .algorithm import scale_factor, to_float_ramps

        raw = product.data
        if raw is None or raw.ndim != 4:
            shape = None if raw is None else raw.shape
            raise InputDataError(f"{product.meta.filename}: group_scale needs raw ramps of shape "
                                 f"(nints, ngroups, ny, nx), got {shape} (give an up-the-ramp exposure)")
        if raw.dtype.kind not in "ui":
            raise InputDataError(f"{product.meta.filename}: group_scale takes raw integer ramps, got "
                                 f"{raw.dtype} data (this product was already scaled: skip group_scale)")
        exposure = product.meta.exposure
        try:
            factor = scale_factor(exposure.nframes, exposure.frame_divisor)
        except ValueError as exc:
            raise InputDataError(f"{product.meta.filename}: {exc} (fix the exposure keywords)") from exc
        ramp = RampModel(data=to_float_ramps(raw, factor))
        # every schema keyword (INSTRUME, DETECTOR, DATE-OBS, exposure, subarray, pointing, ...) but
        # DATE, which is when a file is written: the new product gets its own when saved
        ramp.update(product)
        ramp.groupdq = np.zeros(raw.shape, np.uint8)
        pixeldq = product.pixeldq if product.hasattr("pixeldq") else None
        ramp.pixeldq = np.zeros(raw.shape[-2:], np.uint32) if pixeldq is None else pixeldq.astype(np.uint32)
        return ramp
