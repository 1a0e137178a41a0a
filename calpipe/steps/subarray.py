"""Reference files are full frame; subarray data use the part they cover."""

from __future__ import annotations

from typing import Any


def cutout(array: Any, product: Any) -> Any:
    """The region of a full-frame reference ``array`` (..., Y, X) that ``product`` was read from.

    Raises ValueError (which steps turn into a reference-data error) when the
    shapes differ and the product's SUBSTRT1/SUBSTRT2 do not place it inside.
    """
    ny, nx = product.data.shape[-2:]
    if array.shape[-2:] == (ny, nx):
        return array
    sub = product.meta.subarray
    if sub.xstart is None or sub.ystart is None:
        raise ValueError(f"reference shape {array.shape[-2:]} does not match the data's {(ny, nx)}, "
                         "and the data have no SUBSTRT1/SUBSTRT2 to cut it")
    x0, y0 = sub.xstart - 1, sub.ystart - 1
    if x0 < 0 or y0 < 0 or y0 + ny > array.shape[-2] or x0 + nx > array.shape[-1]:
        raise ValueError(f"subarray {nx}x{ny} at SUBSTRT1={sub.xstart}, SUBSTRT2={sub.ystart} does not fit "
                         f"in a reference of shape {array.shape[-2:]}")
    return array[..., y0:y0 + ny, x0:x0 + nx]
