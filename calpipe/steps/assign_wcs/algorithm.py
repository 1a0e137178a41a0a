"""FITS TAN WCS keywords from a pointing, a roll angle and a pixel scale.

Sign conventions. FITS intermediate world coordinates (x, y) point east and
north at the reference point. ROLL_REF is the position angle of the
detector's +y axis, east of north, so one pixel along +y moves
s·(sin pa, cos pa) in (east, north); the image is sky-right (north up, east
left at pa = 0), so one pixel along +x moves s·(−cos pa, sin pa). The CD
matrix has those two moves as columns:

    CD1_1 = −s cos pa   CD1_2 = s sin pa
    CD2_1 =  s sin pa   CD2_2 = s cos pa
"""

from __future__ import annotations

import math


def cd_matrix(pixel_scale_deg: float, roll_deg: float) -> tuple[float, float, float, float]:
    """(CD1_1, CD1_2, CD2_1, CD2_2) in degrees per pixel."""
    pa = math.radians(roll_deg)
    s = pixel_scale_deg
    return -s * math.cos(pa), s * math.sin(pa), s * math.sin(pa), s * math.cos(pa)


def tan_wcs(ra: float, dec: float, roll: float, pixel_scale_arcsec: float, crpix_full: tuple[float, float],
            origin: tuple[int, int] = (1, 1)) -> dict[str, float | str]:
    """WCS keywords (lower-case names of meta.wcsinfo) of an image whose first pixel is full-frame ``origin``.

    ``crpix_full`` is the 1-based full-frame reference pixel where (``ra``,
    ``dec``) lies; a subarray starting at full-frame pixel (xstart, ystart)
    sees it at crpix_full − (start − 1).
    """
    cd11, cd12, cd21, cd22 = cd_matrix(pixel_scale_arcsec / 3600.0, roll)
    return {
        "ctype1": "RA---TAN", "ctype2": "DEC--TAN", "cunit1": "deg", "cunit2": "deg",
        "crval1": float(ra) % 360.0, "crval2": float(dec),
        "crpix1": crpix_full[0] - (origin[0] - 1), "crpix2": crpix_full[1] - (origin[1] - 1),
        "cd1_1": cd11, "cd1_2": cd12, "cd2_1": cd21, "cd2_2": cd22, "radesys": "ICRS",
    }
