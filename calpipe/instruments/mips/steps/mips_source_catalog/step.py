"""Step class for mips_source_catalog."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.steps.source_catalog.step import SourceCatalogStep110

#: Samples per mosaic pixel of the PRF handed to the PSF fit.
PRF_OVERSAMPLING = 4


class MipsSourceCatalogStep(SourceCatalogStep110):
    """source_catalog 1.1.0 on a MIPS mosaic with its PSF known: the array's optical PSF (psf
    reference) through the detector pixel and the drizzle kernel onto the mosaic grid."""

    name = "mips_source_catalog"
    version = "1.0.0"
    opt_in = False
    instruments = ("mips",)
    reftypes = ("psf",)

    class Params(Params):
        threshold: float = Field(5.0, gt=0, description="detection threshold: S/N of a PSF-weighted flux")
        aperture_fwhm: float = Field(1.5, gt=0, description="aperture radius in units of the FWHM")
        systematic: float = Field(0.005, ge=0, lt=1, description="fractional flux error added in quadrature "
                                  "at 24 um (PSF model and resampling)")
        systematic_ge: float = Field(0.02, ge=0, lt=1, description="the same at 70 and 160 um: at 1.8-2.5 "
                                     "pixels FWHM a mosaic's PRF varies with the dithers' pixel phases")

    def catalog(self, product, params, refs):
        if product.meta.instrument.detector != "MIPS24":
            params = params.model_copy(update={"systematic": params.systematic_ge})
        return super().catalog(product, params, refs)

    def prf(self, product, refs, scale_arcsec):
        import numpy as np

        from calpipe.steps.source_catalog.prf import mosaic_prf

        from ...refs import PSF_DETECTORS

        ref = refs["psf"]
        detector = product.meta.instrument.detector
        name = product.meta.filename or "the mosaic"
        if detector not in PSF_DETECTORS:
            raise InputDataError(f"{name}: DETECTOR = {detector!r}; the psf reference has "
                                 f"{', '.join(PSF_DETECTORS)} (mosaic one array at a time: "
                                 "group_by DETECTOR)")
        k = PSF_DETECTORS.index(detector)
        pixel = float(np.asarray(ref.pixel_scales)[k])
        over = int(ref.meta.mips.psf_oversampling)
        return mosaic_prf(np.asarray(ref.data[k], float), pixel / over, pixel, scale_arcsec, PRF_OVERSAMPLING)
