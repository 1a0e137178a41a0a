"""Step class for mips_ge_ramps."""

from __future__ import annotations

from calpipe.core.errors import InputDataError
from calpipe.core.step import Step


class MipsGeRampsStep(Step):
    """Raw 70/160 um reads to a float MipsGeRampModel (1 x nreads x ny x nx, DN) carrying the stim cycles."""

    name = "mips_ge_ramps"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ()

    @classmethod
    def check_input(cls, product) -> None:
        from .. import keywords

        keywords.require_band(product, (70, 160), cls.name, "mips24_bcd for the 24 um array")
        data = product.data
        if data is None or data.ndim != 3 or data.dtype.kind not in "ui":
            shape = None if data is None else (data.shape, str(data.dtype))
            raise InputDataError(f"{keywords.name(product)}: a raw Ge DCE is uint16 reads (nreads, ny, nx), "
                                 f"got {shape}")
        ramps = product.stim_ramps if product.hasattr("stim_ramps") else None
        if ramps is None or ramps.shape[0] != 6 or ramps.shape[1:] != data.shape:
            raise InputDataError(f"{keywords.name(product)}: no STIMRAMP extension with the 6 ramps of the "
                                 "two stim cycles around this exposure (background, stim, background, "
                                 "twice); "
                                 "the responsivity cannot be measured without them")

    def process(self, product, refs, params):
        import numpy as np

        from ...models import MipsGeRampModel
        from .. import keywords
        from .algorithm import to_ramps

        self.check_input(product)
        ro = keywords.readout(product)
        if ro.nreads != product.data.shape[0]:
            raise InputDataError(f"{keywords.name(product)}: NREADS = {ro.nreads} but the data have "
                                 f"{product.data.shape[0]} reads (fix the header)")
        times = product.stim_times if product.hasattr("stim_times") else None
        if times is None or len(times) != 6:
            raise InputDataError(f"{keywords.name(product)}: STIMTIME must hold the 6 stim-cycle mid-times")
        ramp = MipsGeRampModel(data=to_ramps(product.data))
        ramp.update(product)
        ramp.meta.data_level = 1
        ex = ramp.meta.exposure
        ex.nints, ex.ngroups, ex.nframes, ex.groupgap = 1, ro.nreads, 1, 0
        ex.frame_time = ex.group_time = ro.dt
        ex.exposure_time = (ro.nreads - 1) * ro.dt
        pixeldq = product.pixeldq if product.hasattr("pixeldq") else None
        shape = product.data.shape[1:]
        ramp.pixeldq = np.zeros(shape, np.uint32) if pixeldq is None else pixeldq.astype(np.uint32)
        ramp.groupdq = np.zeros(ramp.data.shape, np.uint8)
        ramp.stim_ramps = product.stim_ramps
        ramp.stim_times = np.asarray(times, np.float64)
        ramp.stim_dcenum = np.asarray(product.stim_dcenum if product.hasattr("stim_dcenum")
                                      else np.full(6, -1), np.int32)
        ramp.meta.bunit_data = "DN"
        return ramp
