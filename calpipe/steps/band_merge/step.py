"""Step class for band_merge."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class BandMergeStep(Step):
    """Merge two bands' source lists: prior-band positions, chi² matches, forced fluxes and upper limits."""

    name = "band_merge"
    version = "1.0.0"
    combines = True

    class Params(Params):
        prior: str = Field("mips24", description="label (group value) of the mosaic whose list is the prior")
        other: str = Field("mips70", description="label of the mosaic matched to them")
        chi2_max: float = Field(9.0, gt=0, description="largest chi² of a match (both positional errors)")
        nsigma: float = Field(3.0, gt=0, description="upper limit: max(F, 0) + nsigma × σ")
        position_floor_arcsec: float = Field(0.5, ge=0, description="band-to-band registration error added "
                                             "in quadrature to every position")

    def process(self, members, refs, params):
        import numpy as np
        from astropy.table import Table

        from calpipe.core.models.dqflags import DQ
        from calpipe.core.models.products import BandMergedCatalogModel

        from ..arrays import table_values
        from ..mosaic.algorithm import pixel_scale_deg
        from ..wcs import celestial_wcs
        from .algorithm import band_merge

        found = dict(members.items)
        for label in (params.prior, params.other):
            if label not in found:
                raise InputDataError(f"band_merge needs the mosaics '{params.prior}' and '{params.other}', "
                                     f"got {sorted(found)} (set prior/other, or group the mosaics by band)")
            if getattr(found[label], "sources", None) is None:
                raise InputDataError(f"mosaic '{label}' has no source list (run source_catalog before "
                                     "band_merge)")
        prior, other = found[params.prior], found[params.other]
        units = {prior.meta.sources.flux_unit, other.meta.sources.flux_unit}
        if len(units) != 1:
            raise InputDataError(f"the two source lists have fluxes in {sorted(units)}; they must share "
                                 "a unit")
        wcs_prior, wcs_other = celestial_wcs(prior, params.prior), celestial_wcs(other, params.other)
        scale_other = pixel_scale_deg(wcs_other) * 3600.0
        # forced fluxes in the lists' unit: per-pixel values times what source_catalog multiplied by
        to_unit = np.radians(scale_other / 3600.0) ** 2 * 1e9 if units == {"mJy"} else 1.0
        other_table = Table(table_values(other.sources), meta={
            "fwhm_px": other.meta.sources.fwhm_arcsec / scale_other,
            "psf_flux_corr": other.meta.sources.psf_flux_correction or 1.0})
        prior_table = Table(table_values(prior.sources), meta={
            "fwhm_px": prior.meta.sources.fwhm_arcsec / (pixel_scale_deg(wcs_prior) * 3600.0)})
        merged = band_merge(
            prior_table, other_table,
            np.asarray(other.data, float) * to_unit, np.asarray(other.err, float) * to_unit,
            wcs_other.world_to_pixel_values, prior_pixel_scale=pixel_scale_deg(wcs_prior) * 3600.0,
            other_pixel_scale=scale_other, chi2_max=params.chi2_max, nsigma=params.nsigma,
            pos_floor_arcsec=params.position_floor_arcsec, mask=(other.dq & DQ.DO_NOT_USE) != 0)
        out = BandMergedCatalogModel()
        out.update(prior)
        table = np.zeros(len(merged), dtype=out.get_dtype("sources"))
        for name, source in _FROM.items():
            table[name] = merged[source]
        out.sources = table
        meta = out.meta.bandmerge
        meta.prior_band, meta.other_band = params.prior, params.other
        meta.chi2_max, meta.nsigma = params.chi2_max, params.nsigma
        meta.matched = int(merged.meta["n_matched"])
        meta.flux_unit = units.pop()
        return out


_FROM = {"id_prior": "id_24", "ra": "ra", "dec": "dec", "flux_prior": "flux_24",
         "flux_prior_err": "flux_24_err", "id_other": "id_70", "flux_other": "flux_70",
         "flux_other_err": "flux_70_err", "flux_other_ulim": "flux_70_ulim", "chi2": "chi2", "flags": "flags"}
