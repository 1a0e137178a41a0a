"""Step class for irac_radhit."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.params import Params
from calpipe.core.step import Step


class IracRadhitStep(Step):
    """Flag radiation hits (spots fitting a sharp footprint far better than the PSF): RADHIT, DQ OUTLIER."""

    name = "irac_radhit"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ()

    class Params(Params):
        nsigma: float = Field(5.0, gt=0, description="local maxima this many sky sigma above the background "
                              "are examined")
        delta_chi2: float = Field(16.0, gt=0, description="flag when chi2(PSF) - chi2(sharp spot) exceeds "
                                  "this")
        psf_fwhm: float | None = Field(None, gt=0, description="PSF FWHM [px] (default: the channel's, "
                                       "1.36/1.41/1.54/1.62 px)")
        hit_sigma: float = Field(0.4, gt=0, description="Gaussian sigma [px] of a hit's charge footprint")
        grow_nsigma: float = Field(3.0, gt=0, description="neighbours of a hit this many sigma above the "
                                   "background are part of it")
        saturated_margin: int = Field(2, ge=0, description="pixels this close to a saturated one are not "
                                      "flagged")
        do_not_use: bool = Field(False, description="also set DO_NOT_USE on hits (default: leave the "
                                 "decision to the mosaic's outlier rejection)")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ... import artifacts as art
        from .. import keywords
        from ..neighbours import dilate
        from .algorithm import FWHM_PER_SIGMA, PSF_FWHM_PX, find_hits

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        fwhm = params.psf_fwhm if params.psf_fwhm is not None else PSF_FWHM_PX[keywords.channel(product)]
        usable = (dq & np.uint32(DQ.DO_NOT_USE)) == 0
        saturated = (dq & np.uint32(DQ.SATURATED)) != 0
        hits = find_hits(data, err, usable, fwhm / FWHM_PER_SIGMA, params.nsigma, params.delta_chi2,
                         params.hit_sigma, params.grow_nsigma, dilate(saturated, params.saturated_margin))
        flag = DQ.OUTLIER | (DQ.DO_NOT_USE if params.do_not_use else 0)
        dq[hits] |= np.uint32(flag)
        artifacts[hits] |= np.uint16(art.RADHIT)
        return product
