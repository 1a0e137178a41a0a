"""Step class for band_merge."""

from __future__ import annotations

import logging

from pydantic import Field

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step

log = logging.getLogger("calpipe")


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

        from ..arrays import table_values
        from ..mosaic.algorithm import pixel_scale_deg
        from ..wcs import celestial_wcs
        from .algorithm import band_merge

        found = dict(members.items)
        if params.prior not in found:
            raise InputDataError(f"band_merge needs the mosaic '{params.prior}' (the prior), got "
                                 f"{sorted(found)} (set prior/other, or group the mosaics by band)")
        for label in found.keys() & {params.prior, params.other}:
            if getattr(found[label], "sources", None) is None:
                raise InputDataError(f"mosaic '{label}' has no source list (run source_catalog before "
                                     "band_merge)")
        prior, other = found[params.prior], found.get(params.other)
        if other is None:  # an AOR that did not observe the other band: its sources, nothing matched
            log.warning("no '%s' mosaic: the %d '%s' sources are listed without counterparts",
                        params.other, len(prior.sources), params.prior)
            unmatched = _unmatched(table_values(prior.sources))
            return _assemble(prior, unmatched, params, prior.meta.sources.flux_unit)
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
        return _assemble(prior, merged, params, units.pop())


def _unmatched(prior):
    """The band_merge table of prior sources with no other band at all (NaN, FLAG_NO_COVERAGE)."""
    import numpy as np
    from astropy.table import Table

    from .algorithm import FLAG_NO_COVERAGE

    n = len(prior)
    nan = np.full(n, np.nan)
    return Table({"id_24": prior["id"], "ra": prior["ra"], "dec": prior["dec"], "flux_24": prior["flux_psf"],
                  "flux_24_err": prior["flux_psf_err"], "id_70": np.full(n, -1), "flux_70": nan,
                  "flux_70_err": nan, "chi2": nan, "flags": np.full(n, FLAG_NO_COVERAGE),
                  "flux_70_ulim": nan}, meta={"n_matched": 0})


def _assemble(prior, merged, params, unit):
    """The BandMergedCatalogModel of a band_merge table, with the prior mosaic's metadata."""
    import numpy as np

    from calpipe.core.models.products import BandMergedCatalogModel

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
    meta.flux_unit = unit
    return out


_FROM = {"id_prior": "id_24", "ra": "ra", "dec": "dec", "flux_prior": "flux_24",
         "flux_prior_err": "flux_24_err", "id_other": "id_70", "flux_other": "flux_70",
         "flux_other_err": "flux_70_err", "flux_other_ulim": "flux_70_ulim", "chi2": "chi2", "flags": "flags"}
