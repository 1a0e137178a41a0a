"""Step class for mips_stim_response."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class MipsStimResponseStep(Step):
    """Divide by R(t): stim minus interpolated background of the bracketing stim cycles, interpolated in time.

    Records STIMRESP (median R applied, DN/s), STIMTIM1/2 and STIMDCE1/2 (the flashes used) and
    the per-pixel R in the RESPONSE extension; the stim ramps are then dropped from the product.
    """

    name = "mips_stim_response"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("saturation", "superbias", "linearity", "gain", "readnoise")

    class Params(Params):
        min_reads: int = Field(4, ge=2, le=100, description="reads a stim-ramp segment between jumps needs")
        rejection_threshold: float = Field(4.0, gt=0, description="jump threshold in the stim ramps [sigma "
                                           "of a read difference]")
        max_extrapolation: float = Field(0.5, ge=0, le=5, description="largest distance outside the two "
                                         "flashes, as a fraction of their separation, before the exposure "
                                         "is refused")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.arrays import optional

        from ... import artifacts as art
        from .. import keywords
        from ..gefit import ramp_slopes
        from .algorithm import apply, cycle_response, interpolate

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        name = keywords.name(product)
        ramps = optional(product, "stim_ramps")
        times = optional(product, "stim_times")
        dcenum = optional(product, "stim_dcenum")
        if ramps is None or times is None or ramps.shape[0] != 6 or len(times) != 6:
            raise InputDataError(f"{name}: no stim cycles (STIMRAMP, STIMTIME) in the product; they come "
                                 "with the raw Ge exposure (run mips_ge_ramps and mips_ge_slope on it)")
        shape = data.shape
        get = {t: keywords.reference_data(refs[t], shape, t) for t in refs}
        ro = keywords.readout(product)
        pixeldq = np.zeros(shape, np.uint32)
        slopes, variances = [], []
        for ramp in ramps:
            f = ramp_slopes(ramp, pixeldq, get["saturation"], get["superbias"], get["linearity"], get["gain"],
                            get["readnoise"], ro.dt, params.min_reads, params.rejection_threshold)
            slopes.append(np.where((f.dq & DQ.DO_NOT_USE) == 0, f.slope, np.nan))
            variances.append(np.asarray(f.err, np.float64) ** 2)
        s1, v1 = cycle_response(slopes[:3], variances[:3], times[:3])
        s2, v2 = cycle_response(slopes[3:], variances[3:], times[3:])
        mid = (ro.nreads + 1) / 2.0 * ro.dt  # slope-weighted mid-time of the exposure after DATE-OBS
        try:
            r = interpolate(s1, v1, float(times[1]), s2, v2, float(times[4]), mid)
        except ValueError as exc:
            raise InputDataError(f"{name}: STIMTIME: {exc}") from exc
        if not -params.max_extrapolation <= r.fraction <= 1 + params.max_extrapolation:
            raise InputDataError(f"{name}: the exposure lies {r.fraction:.2f} of the way between its stim "
                                 f"flashes (limit {params.max_extrapolation} outside them): check STIMTIME")
        out, new_err, vp, vr, bad = apply(data, err, r.value, r.var, optional(product, "var_poisson"),
                                          optional(product, "var_rnoise"))
        product.data, product.err = out, new_err
        if vp is not None:
            product.var_poisson = vp
        if vr is not None:
            product.var_rnoise = vr
        dq[bad] |= np.uint32(DQ.DO_NOT_USE)
        if not 0.0 <= r.fraction <= 1.0:
            artifacts |= np.uint16(art.STIM_EXTRAPOLATED)
        product.responsivity = np.where(bad, np.nan, r.value).astype(np.float32)
        m = product.meta.mips
        good = ~bad & ((dq & DQ.DO_NOT_USE) == 0)
        m.stim_response = float(np.median(r.value[good])) if good.any() else float("nan")
        m.stim_time1, m.stim_time2 = float(times[1]), float(times[4])
        if dcenum is not None and len(dcenum) == 6:
            m.stim_dce1, m.stim_dce2 = int(dcenum[1]), int(dcenum[4])
        product.meta.bunit_data = product.meta.bunit_err = "stim"
        del product.stim_ramps  # measured and traced: the BCD need not carry the raw ramps
        return product
