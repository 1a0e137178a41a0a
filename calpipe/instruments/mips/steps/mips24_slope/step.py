"""Step class for mips24_slope."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class Mips24SlopeStep(Step):
    """24 um slope and first-difference words to a float MipsBcdModel in DN/s, ERR from the ramp model."""

    name = "mips24_slope"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ()

    class Params(Params):
        gain: float | None = Field(None, gt=0, description="gain [e-/DN] (default: GAIN keyword)")
        readnoise: float | None = Field(None, ge=0, description="read noise of one sample [e-] "
                                        "(default: RONOISE keyword)")

    @classmethod
    def check_input(cls, product) -> None:
        from .. import keywords

        keywords.require_band(product, (24,), cls.name, "mips70_bcd or mips160_bcd for Ge arrays")
        data = product.data
        if data is None or data.ndim != 3 or data.shape[0] != 2 or data.dtype.kind not in "ui":
            shape = None if data is None else (data.shape, str(data.dtype))
            raise InputDataError(f"{keywords.name(product)}: a raw 24 um DCE is uint16 (2, ny, nx) = slope "
                                 f"and first-difference words, got {shape}")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ...models import MipsBcdModel
        from .. import keywords
        from .algorithm import decode, slope_variance

        self.check_input(product)
        m = product.meta.mips
        encoding = (("SLPSCALE", m.slope_scale), ("SLPZERO", m.slope_zero), ("DIFZERO", m.diff_zero))
        for keyword, value in encoding:
            if value is None:
                raise InputDataError(f"{keywords.name(product)}: missing keyword {keyword}, needed to decode "
                                     "the on-board slope (set it in the primary header)")
        if not m.slope_scale > 0:
            raise InputDataError(f"{keywords.name(product)}: SLPSCALE = {m.slope_scale} must be positive")
        ro = keywords.readout(product)
        gain, readnoise = keywords.noise(product, params.gain, params.readnoise)
        slope, diff = decode(product.data, m.slope_scale, m.slope_zero, m.diff_zero, ro.dt)
        var_p, var_r = slope_variance(slope, ro.nreads, ro.dt, gain, readnoise / gain)

        bcd = MipsBcdModel(data=slope)
        bcd.update(product)  # every header keyword but DATE (when the new file is written)
        bcd.meta.data_level = 2
        bcd.meta.mips.gain, bcd.meta.mips.readnoise = gain, readnoise
        bcd.meta.bunit_data = bcd.meta.bunit_err = "DN/s"
        bcd.var_poisson, bcd.var_rnoise = var_p, var_r
        bcd.err = np.sqrt(var_p + var_r).astype(np.float32)
        bcd.first_diff = diff
        pixeldq = product.pixeldq if product.hasattr("pixeldq") else None
        dq = np.zeros(slope.shape, np.uint32) if pixeldq is None else pixeldq.astype(np.uint32)
        dq[product.data[0] == 0] |= np.uint32(DQ.AD_FLOOR | DQ.DO_NOT_USE)  # slope word at the floor
        bcd.dq = dq
        bcd.artifacts = np.zeros(slope.shape, np.uint16)
        return bcd
