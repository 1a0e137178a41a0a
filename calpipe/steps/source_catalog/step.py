"""Step classes for source_catalog (1.0.0, and 1.1.0 with the deblending rules)."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class SourceCatalogStep(Step):
    """Detect point sources on a mosaic and measure them (PSF fit and aperture): its SOURCES table."""

    name = "source_catalog"
    version = "1.0.0"
    #: 1.1.0: neighbours fit together within 3 FWHM and subtracted from apertures, blends by light share
    deblend = False

    class Params(Params):
        threshold: float = Field(5.0, gt=0, description="detection threshold: S/N of a PSF-weighted flux")
        fwhm_arcsec: float | None = Field(None, gt=0, description="PSF FWHM (default: measured on bright "
                                          "isolated sources of the mosaic)")
        fwhm_guess_arcsec: float | None = Field(None, gt=0, description="starting FWHM when measuring it "
                                                "(default: 2 mosaic pixels)")
        aperture_fwhm: float = Field(1.5, gt=0, description="aperture radius in units of the FWHM")
        systematic: float = Field(0.005, ge=0, lt=1, description="fractional flux error added in quadrature "
                                  "(PSF model and resampling)")

    def process(self, product, refs, params):
        return self.catalog(product, params, refs)

    def prf(self, product, refs, scale_arcsec: float):
        """The mosaic's PRF (an algorithm.Prf), or None for the Gaussian of the given or measured FWHM."""
        return None

    def catalog(self, product, params, refs):
        import numpy as np

        from calpipe.core.models.dqflags import DQ

        from ..mosaic.algorithm import pixel_scale_deg
        from ..wcs import celestial_wcs
        from .algorithm import FLAG_BLENDED, FLAG_SATURATED, source_catalog, touches, with_systematic

        name = product.meta.filename or "the mosaic"
        if not hasattr(product, "coverage"):
            raise InputDataError(f"{name}: a {type(product).__name__}, but source_catalog measures mosaics "
                                 "(run the mosaic step first)")
        wcs = celestial_wcs(product, name)
        scale = pixel_scale_deg(wcs) * 3600.0
        mask = (product.dq & np.uint32(DQ.DO_NOT_USE)) != 0
        fwhm, guess = getattr(params, "fwhm_arcsec", None), getattr(params, "fwhm_guess_arcsec", None)
        cat = source_catalog(np.asarray(product.data, float), np.asarray(product.err, float),
                             fwhm_px=None if fwhm is None else fwhm / scale,
                             fwhm_guess_px=2.0 if guess is None else guess / scale,
                             threshold=params.threshold,
                             mask=mask, aper_radius_fwhm=params.aperture_fwhm,
                             prf=self.prf(product, refs, scale), deblend=self.deblend)
        # sums of surface brightness over pixels: MJy/sr x sr = MJy, reported in mJy
        if product.meta.bunit_data == "MJy/sr":
            factor, unit = np.radians(scale / 3600.0) ** 2 * 1e9, "mJy"
        else:
            factor, unit = 1.0, f"{product.meta.bunit_data or 'unknown'} * pixel"
        ra, dec = wcs.pixel_to_world_values(cat["x"], cat["y"])
        columns = {"id": cat["id"], "ra": ra, "dec": dec, "x": cat["x"], "y": cat["y"],
                   "x_err": cat["x_err"], "y_err": cat["y_err"]}
        for col in ("flux_psf", "flux_aper"):
            flux = np.asarray(cat[col], float)
            columns[col] = flux * factor
            columns[col + "_err"] = with_systematic(flux, np.asarray(cat[col + "_err"], float),
                                                    params.systematic) * factor
        columns["snr"] = columns["flux_psf"] / columns["flux_psf_err"]
        saturated = (product.dq & np.uint32(DQ.SATURATED | DQ.FLUX_ESTIMATED)) != 0
        hit = touches(saturated, np.asarray(cat["x"]), np.asarray(cat["y"]), cat.meta["aper_radius_px"])
        columns["flags"] = np.asarray(cat["flags"]) | np.where(hit, FLAG_SATURATED, 0)
        table = np.zeros(len(cat), dtype=product.get_dtype("sources"))
        for name in table.dtype.names:
            table[name] = columns[name]
        product.sources = table
        meta = product.meta.sources
        meta.count = len(cat)
        meta.threshold = params.threshold
        meta.fwhm_arcsec = float(cat.meta["fwhm_px"] * scale)
        meta.fwhm_measured = bool(cat.meta["fwhm_measured"])
        meta.aperture_arcsec = float(cat.meta["aper_radius_px"] * scale)
        meta.aperture_correction = float(cat.meta["aper_corr"])
        meta.psf_flux_correction = float(cat.meta["psf_flux_corr"])
        meta.flux_unit = unit
        if self.deblend:
            meta.blended = int(np.count_nonzero(columns["flags"] & FLAG_BLENDED))
        return product


class SourceCatalogStep110(SourceCatalogStep):
    """source_catalog 1.1.0: blends by the neighbours' light in each aperture (subtracted, its error
    added); neighbours within 3 FWHM fit together; one detection per S/N peak within a FWHM. NBLEND."""

    version = "1.1.0"
    opt_in = True  # irac_postbcd, nir_image3, mips_postbcd 1.0.0 name source_catalog unpinned
    deblend = True
