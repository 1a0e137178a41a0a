"""The celestial WCS of a product's SCI array, as astropy sees it (Level 3 steps need it)."""

from __future__ import annotations

from typing import Any

from calpipe.core.errors import InputDataError

_KEYS = ("ctype1", "ctype2", "crpix1", "crpix2", "crval1", "crval2", "cd1_1", "cd1_2", "cd2_1", "cd2_2")


def celestial_wcs(product: Any, name: str):
    """astropy WCS from meta.wcsinfo; a product without one is bad input (run assign_wcs first)."""
    info = product.meta.wcsinfo
    values = {k: getattr(info, k, None) for k in _KEYS}
    missing = [k.upper() for k, v in values.items() if v is None]
    if missing:
        raise InputDataError(f"{name}: no celestial WCS (missing {', '.join(missing)} in the SCI header); "
                             "calibrate it with a pipeline that runs assign_wcs")
    return wcs_from_keywords(values)


def wcs_from_keywords(values: dict[str, Any]):
    """astropy WCS from lower-case TAN keywords, e.g. those of assign_wcs.algorithm.tan_wcs."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [values["ctype1"], values["ctype2"]]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crpix = [values["crpix1"], values["crpix2"]]
    wcs.wcs.crval = [values["crval1"], values["crval2"]]
    wcs.wcs.cd = [[values["cd1_1"], values["cd1_2"]], [values["cd2_1"], values["cd2_2"]]]
    return wcs


def store_wcs(product: Any, wcs) -> None:
    """Write a TAN WCS with a CD matrix into meta.wcsinfo."""
    info = product.meta.wcsinfo
    info.ctype1, info.ctype2 = wcs.wcs.ctype
    info.cunit1 = info.cunit2 = "deg"
    info.radesys = "ICRS"
    info.crpix1, info.crpix2 = (float(v) for v in wcs.wcs.crpix)
    info.crval1, info.crval2 = (float(v) for v in wcs.wcs.crval)
    (info.cd1_1, info.cd1_2), (info.cd2_1, info.cd2_2) = wcs.wcs.cd.tolist()
