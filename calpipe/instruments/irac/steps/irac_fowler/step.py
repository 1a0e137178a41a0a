"""Step class for irac_fowler."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class IracFowlerStep(Step):
    """Raw IRAC words to a float IracBcdModel in DN per frame: InSb flip, barrel shift, ÷ Fowler N, ERR."""

    name = "irac_fowler"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        truncation: Literal["floor", "ssc", "none"] = Field(
            "floor", description="barrel-shift truncation bias to add back: floor (+ all channels), "
            "ssc (− InSb, + Si:As), none")
        gain: float | None = Field(None, gt=0, description="gain [e-/DN] (default: GAIN keyword)")
        readnoise: float | None = Field(None, ge=0, description="frame read noise [e-] (default: RONOISE)")

    def process(self, product, refs, params):
        import numpy as np

        from ...models import IracBcdModel
        from .. import keywords
        from ..readout import frame_variance, is_insb
        from .algorithm import normalise, truncation_bias, unflip

        raw = product.data
        name = product.meta.filename or "input"
        if raw is None or raw.ndim != 2:
            shape = None if raw is None else raw.shape
            raise InputDataError(f"{name}: irac_fowler needs one raw frame (ny, nx), got {shape}")
        if raw.dtype.kind not in "ui":
            raise InputDataError(f"{name}: irac_fowler takes raw integer words, got {raw.dtype} data (this "
                                 "product was already converted: skip irac_fowler)")
        channel = keywords.channel(product)
        fowler = keywords.fowler(product)
        gain = params.gain if params.gain is not None else product.meta.irac.gain
        readnoise = params.readnoise if params.readnoise is not None else product.meta.irac.readnoise
        for keyword, value in (("GAIN", gain), ("RONOISE", readnoise)):
            if value is None:
                raise InputDataError(f"{name}: missing keyword {keyword}, needed for the uncertainties (set "
                                     f"it in the header or the step parameter {keyword.lower()})")
            if not math.isfinite(value) or value < 0 or (keyword == "GAIN" and value == 0):
                raise InputDataError(f"{name}: {keyword} = {value} is not physical (GAIN: e-/DN > 0, "
                                     "RONOISE: e- >= 0); fix the header or set the step parameter "
                                     f"{keyword.lower()}")
        insb = is_insb(channel)
        bias = truncation_bias(fowler.barrel, insb, params.truncation)
        data = normalise(unflip(raw, insb), fowler.barrel, fowler.nfowler, bias)
        var = frame_variance(data, gain, readnoise, fowler.nfowler, fowler.wait, fowler.barrel)

        bcd = IracBcdModel(data=data)
        bcd.update(product)  # every header keyword but DATE (when the new file is written)
        bcd.meta.data_level = 2
        bcd.meta.irac.channel = channel
        bcd.meta.irac.gain = float(gain)
        bcd.meta.irac.readnoise = float(readnoise)
        bcd.meta.bunit_data = bcd.meta.bunit_err = "DN"
        bcd.err = np.sqrt(var).astype(np.float32)
        pixeldq = product.pixeldq if product.hasattr("pixeldq") else None
        bcd.dq = np.zeros(data.shape, np.uint32) if pixeldq is None else pixeldq.astype(np.uint32)
        bcd.artifacts = np.zeros(data.shape, np.uint16)
        return bcd
