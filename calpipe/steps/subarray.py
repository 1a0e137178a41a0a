"""Reference files are full frame; subarray data use the part they cover."""

from __future__ import annotations

from typing import Any

from calpipe.core.errors import InputDataError


def cutout(array: Any, product: Any) -> Any:
    """The region of a full-frame reference ``array`` (..., Y, X) that ``product`` was read from.

    A reference smaller than the data, or of another shape when the data have no
    SUBSTRT1/2 (both then claim to be the whole detector), is the reference's
    fault: ValueError, which steps turn into a reference-data error. SUBSIZE1/2
    that disagree with the array, or SUBSTRT1/2 that place it outside the
    full-frame reference, are the input's: InputDataError naming the keyword.
    """
    ny, nx = product.data.shape[-2:]
    name = product.meta.filename or "the input"
    sub = product.meta.subarray
    if sub.xsize is not None and sub.ysize is not None and (sub.xsize, sub.ysize) != (nx, ny):
        raise InputDataError(f"{name}: SCI is {nx}x{ny} pixels but SUBSIZE1 x SUBSIZE2 say "
                             f"{sub.xsize}x{sub.ysize} (an inconsistent or cropped file; regenerate it)")
    if array.shape[-2:] == (ny, nx):
        return array
    full_y, full_x = array.shape[-2:]
    if full_y < ny or full_x < nx:
        raise ValueError(f"reference shape {array.shape[-2:]} is smaller than the data's {(ny, nx)}")
    if sub.xstart is None or sub.ystart is None:  # both claim to be the whole detector: no way to tell
        raise ValueError(f"reference shape {array.shape[-2:]} does not match the data's {(ny, nx)}, "
                         "and the data have no SUBSTRT1/SUBSTRT2 to cut it")
    x0, y0 = sub.xstart - 1, sub.ystart - 1
    if x0 < 0 or y0 < 0 or y0 + ny > full_y or x0 + nx > full_x:
        raise InputDataError(f"{name}: SUBSTRT1={sub.xstart}, SUBSTRT2={sub.ystart} place the {nx}x{ny} "
                             f"subarray outside the {full_x}x{full_y} detector (fix SUBSTRT1/SUBSTRT2)")
    return array[..., y0:y0 + ny, x0:x0 + nx]
