"""Step class for irac_firstframe."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class IracFirstFrameStep(Step):
    """Subtract the bias offset a + b·log10(FRAMEDLY) of the reference; flag FIRSTFRAME where it mattered."""

    name = "irac_firstframe"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ("firstframe",)

    class Params(Params):
        delay: float | None = Field(None, gt=0, description="delay since the previous frame [s] "
                                    "(default: FRAMEDLY keyword)")
        min_delay: float = Field(0.1, gt=0, description="shorter delays [s] are taken as this (the law's "
                                 "validity limit)")
        flag_sigma: float = Field(1.0, ge=0, description="flag FIRSTFRAME where |offset| exceeds this "
                                  "many read-noise sigma")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.subarray import cutout

        from ... import artifacts as art
        from .. import keywords
        from .algorithm import offset, offset_variance

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        delay = params.delay if params.delay is not None else product.meta.irac.frame_delay
        if delay is None or not delay > 0:
            raise InputDataError(f"{product.meta.filename}: FRAMEDLY = {delay}; the first-frame correction "
                                 "needs the positive delay since the previous frame [s] (set FRAMEDLY or "
                                 "the step parameter delay)")
        ref = refs["firstframe"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: firstframe reference has no SCI array")
        try:
            coeffs = cutout(ref.data, product)
            off = offset(coeffs, delay, params.min_delay)
            if off.shape != data.shape:
                raise ValueError(f"coefficients of shape {coeffs.shape} do not match the data's {data.shape}")
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a (2, ny, nx) a, b first-frame "
                               "reference for this channel and frame time)") from exc
        missing = ~np.isfinite(off)
        off[missing] = 0.0
        dq[missing] |= np.uint32(DQ.DO_NOT_USE)
        data -= off.astype(np.float32)
        if ref.err is not None and ref.err.shape == ref.data.shape:
            extra = offset_variance(cutout(ref.err, product), delay, params.min_delay)
            var = err.astype(np.float64) ** 2 + extra
            err[...] = np.sqrt(var).astype(np.float32)
        if ref.dq is not None:
            dq |= cutout(ref.dq, product).astype(np.uint32)
        mattered = np.abs(off) > params.flag_sigma * keywords.read_noise_dn(product)
        artifacts[mattered] |= np.uint16(art.FIRSTFRAME)
        return product
