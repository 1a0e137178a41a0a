"""Step class for ramp_fit."""

from __future__ import annotations

from pydantic import Field, field_validator

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class RampFitStep(Step):
    """Fit ramp slopes (DN/s) with optimal weights, split at jumps and saturation; returns a rate image."""

    name = "ramp_fit"
    version = "1.0.0"
    reftypes = ("gain", "readnoise")

    def process(self, product, refs, params):
        return _fit(product, refs)


class RampFitStepV1_1(RampFitStep):
    """Fit ramp slopes (DN/s) with optimal weights; Poisson variance at a locally smoothed rate."""

    version = "1.1.0"
    opt_in = True  # released pipelines that name ramp_fit unpinned keep 1.0.0

    class Params(Params):
        rate_window: int = Field(5, ge=1, le=15, description="side (odd, pixels) of the square whose "
                                 "median rate sets the Poisson variance; 1 = each pixel's own rate")
        rate_clip: float = Field(3.0, gt=0, description="a pixel whose own rate differs from that median "
                                 "by more than this many sigma keeps its own")
        quantum: float = Field(1.0, ge=0, description="step (DN) of the digitised raw groups: adds "
                               "quantum**2/12 to each group's read-noise variance (0 for float ramps)")

        @field_validator("rate_window")
        @classmethod
        def _odd(cls, value: int) -> int:
            if value % 2 == 0:
                raise ValueError(f"must be odd (the square is centred on the pixel), got {value}")
            return value

    def process(self, product, refs, params):
        return _fit(product, refs, rate_window=params.rate_window, rate_clip=params.rate_clip,
                    quantum=params.quantum)


def _fit(product, refs, **options):
    """The rate image of a ramp product (``options`` go to fit_ramps)."""
    from calpipe.core.models.products import ImageModel

    from ..jump.step import reference_array
    from ..kernels import announce_compiling
    from . import algorithm
    from .algorithm import fit_ramps

    announce_compiling("ramp_fit", algorithm)

    exposure = product.meta.exposure
    name = product.meta.filename or "input product"
    if exposure.nframes is None:
        raise InputDataError(f"{name}: missing NFRAMES (frames averaged per group); "
                             "ramp_fit needs the read pattern in the header")
    group_time = exposure.group_time
    if group_time is None and exposure.frame_time is not None:
        group_time = exposure.frame_time * (exposure.nframes + (exposure.groupgap or 0))
    if group_time is None or not group_time > 0:
        raise InputDataError(f"{name}: TGROUP = {exposure.group_time!r} and no usable TFRAME; "
                             "ramp_fit needs the time between groups")
    gain = reference_array(refs["gain"], product)
    readnoise = reference_array(refs["readnoise"], product)
    fit = fit_ramps(product.data, product.groupdq, product.pixeldq, gain, readnoise, group_time,
                    exposure.nframes, exposure.groupgap, **options)

    image = ImageModel(data=fit.slope, err=fit.err, dq=fit.dq, var_poisson=fit.var_poisson,
                       var_rnoise=fit.var_rnoise)
    image.update(product)  # header keywords only; arrays are not copied
    image.meta.data_level = 2
    image.meta.bunit_data = "DN/s"
    image.meta.bunit_err = "DN/s"
    return image
