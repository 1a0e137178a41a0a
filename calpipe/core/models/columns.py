"""Units and descriptions of the source-list columns, written as TUNITn/TCOMMn on every save.

A numpy table carries no units, so `astropy.table.Table.read` would see unitless ra, dec and
fluxes; the model writes them from here (flux columns take the unit the step recorded in
``meta.<table>.flux_unit``). Pixel positions keep numpy's 0-based origin (the centre of the
first pixel is 0.0, as `astropy.wcs` ``pixel_to_world_values`` uses them); FITS and WCS
count from 1, so the table says so in PIXORIGN and in the x/y descriptions rather than
changing released values.
"""

from __future__ import annotations

from typing import Any

FLUX = "{flux}"  # the flux unit recorded by the step that made the table
PIXEL_ORIGIN = 0

COLUMNS: dict[str, tuple[str | None, str]] = {
    "id": (None, "source number in this list"),
    "ra": ("deg", "right ascension (ICRS)"),
    "dec": ("deg", "declination (ICRS)"),
    "x": ("pix", "column of the PSF centre, 0-based (FITS pixel = x + 1)"),
    "y": ("pix", "row of the PSF centre, 0-based (FITS pixel = y + 1)"),
    "x_err": ("pix", "1-sigma error of x"),
    "y_err": ("pix", "1-sigma error of y"),
    "flux_psf": (FLUX, "PSF-fit flux"),
    "flux_psf_err": (FLUX, "1-sigma error of flux_psf (with the systematic term)"),
    "flux_aper": (FLUX, "aperture flux, aperture-corrected"),
    "flux_aper_err": (FLUX, "1-sigma error of flux_aper (with the systematic term)"),
    "snr": (None, "flux_psf / flux_psf_err"),
    "flags": (None, "1 edge/masked, 2 blended, 4 fit failed, 8 saturated/estimated pixels"),
    "id_prior": (None, "source number in the prior band's list"),
    "flux_prior": (FLUX, "prior-band PSF flux"),
    "flux_prior_err": (FLUX, "1-sigma error of flux_prior"),
    "id_other": (None, "matched source in the other band's list, -1 if none"),
    "flux_other": (FLUX, "other-band flux: the match's, or forced PSF photometry at the prior position"),
    "flux_other_err": (FLUX, "1-sigma error of flux_other"),
    "flux_other_ulim": (FLUX, "upper limit max(F, 0) + n sigma where unmatched (NaN if matched)"),
    "chi2": (None, "d^2 / (sigma1^2 + sigma2^2) of the match (NaN if none)"),
}

#: where a band-merged list means something else by a name
BANDMERGE_COLUMNS: dict[str, tuple[str | None, str]] = {
    **COLUMNS, "flags": (None, "1 no match: forced flux and upper limit, 2 no coverage in the other band")}


def annotate(model: Any, attr: str, hdu: str, flux_unit: str | None,
             columns: dict[str, tuple[str | None, str]] = COLUMNS) -> None:
    """Give ``model.<attr>`` its column units and ``hdu`` its TCOMMn and PIXORIGN cards."""
    import numpy as np
    from astropy.io import fits

    table = getattr(model, attr, None)
    if table is None or not getattr(table, "dtype", None) or not table.dtype.names:
        return
    cols = fits.ColDefs(np.asarray(table))
    cards = []
    for i, col in enumerate(cols, start=1):
        unit, text = columns.get(col.name, (None, None))
        if unit is not None:
            col.unit = flux_unit if unit == FLUX else unit
        if text:
            cards.append([f"TCOMM{i}", text, f"description of {col.name}"])
    if "x" in cols.names:
        cards.append(["PIXORIGN", PIXEL_ORIGIN, "x, y are 0-based; FITS/WCS pixel = x + 1"])
    setattr(model, attr, fits.FITS_rec.from_columns(cols, nrows=len(table)))
    extra = getattr(model, "extra_fits", None)
    extra = getattr(extra, "instance", extra) or {}
    old = extra.get(hdu, {}).get("header", [])
    extra.setdefault(hdu, {})["header"] = [c for c in old if c[0] not in {k for k, _, _ in cards}] + cards
    model.extra_fits = extra
