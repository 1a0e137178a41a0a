"""The TAN WCS of a pointing: geometry shared with assign_wcs on purpose (see the kit's docstring)."""

from __future__ import annotations

from calpipe.steps.assign_wcs.algorithm import tan_wcs
from calpipe.steps.wcs import wcs_from_keywords


def pointing_keywords(ra: float, dec: float, roll: float, scale_arcsec: float, crpix: tuple[float, float],
                      origin: tuple[int, int] = (1, 1)) -> dict:
    """meta.wcsinfo values of an array pointed at (ra, dec) at full-frame ``crpix``, as assign_wcs writes."""
    return tan_wcs(ra, dec, roll, scale_arcsec, crpix, origin)


def pointing_wcs(ra: float, dec: float, roll: float, scale_arcsec: float, crpix: tuple[float, float],
                 origin: tuple[int, int] = (1, 1)):
    """astropy TAN WCS of that pointing."""
    return wcs_from_keywords(tan_wcs(ra, dec, roll, scale_arcsec, crpix, origin))
