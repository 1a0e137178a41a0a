"""Step class for dark_current."""

from __future__ import annotations

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.step import Step


class DarkCurrentStep(Step):
    """Subtract dark rate × group mean time (TFRAME, NFRAMES, GROUPGAP) from every group."""

    name = "dark_current"
    version = "1.0.0"
    reftypes = ("dark",)

    def process(self, product, refs, params):
        from ..arrays import ramp_arrays
        from ..subarray import cutout
        from .algorithm import group_times, subtract_dark

        data, _, pixeldq = ramp_arrays(product, self.name)
        exposure = product.meta.exposure
        for keyword, value in (("TFRAME", exposure.frame_time), ("NFRAMES", exposure.nframes),
                               ("GROUPGAP", exposure.groupgap)):
            if value is None:
                raise InputDataError(f"{product.meta.filename}: missing keyword {keyword}, needed for the "
                                     "group times (set it in the primary header)")
        if exposure.frame_time <= 0 or exposure.nframes < 1 or exposure.groupgap < 0:
            raise InputDataError(f"{product.meta.filename}: TFRAME = {exposure.frame_time}, NFRAMES = "
                                 f"{exposure.nframes}, GROUPGAP = {exposure.groupgap} are not a valid "
                                 "readout (fix the exposure keywords)")
        times = group_times(data.shape[1], exposure.frame_time, exposure.nframes, exposure.groupgap)
        ref = refs["dark"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: dark reference has no SCI array")
        try:
            ref_dq = None if ref.dq is None else cutout(ref.dq, product)
            subtract_dark(data, pixeldq, cutout(ref.data, product), times, ref_dq)
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a dark-rate map (DN/s) for this "
                               "detector/subarray)") from exc
        return product

