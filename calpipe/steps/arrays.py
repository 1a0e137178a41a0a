"""Array access shared by the steps: ramp planes, 2-D image (BCD) planes and optional arrays of a product."""

from __future__ import annotations

from typing import Any

from calpipe.core.errors import InputDataError


def ramp_arrays(product: Any, step: str) -> tuple[Any, Any, Any]:
    """(data, groupdq, pixeldq) of a float ramp product, creating empty DQ planes if absent."""
    import numpy as np

    data = product.data
    if data is None or data.ndim != 4 or data.dtype.kind != "f":
        raise InputDataError(f"{product.meta.filename}: {step} needs float ramps (nints, ngroups, ny, nx); "
                             "run group_scale first")
    if product.groupdq is None:
        product.groupdq = np.zeros(data.shape, np.uint8)
    if product.pixeldq is None:
        product.pixeldq = np.zeros(data.shape[-2:], np.uint32)
    return data, product.groupdq, product.pixeldq


def bcd_arrays(product: Any, step: str, what: str, hint: str) -> tuple[Any, Any, Any, Any]:
    """(data, err, dq, artifacts) of a 2-D image in progress, creating empty ERR/DQ/ARTIFACT planes if absent.

    Data that are not a float 2-D image raise InputDataError "<file>: <step> needs a float 2-D
    <what>; <hint>", e.g. what="IRAC frame (IracBcdModel)", hint="run irac_fowler first".
    """
    import numpy as np

    data = product.data
    if data is None or data.ndim != 2 or data.dtype.kind != "f":
        raise InputDataError(f"{product.meta.filename or 'input'}: {step} needs a float 2-D {what}; {hint}")
    if product.err is None or product.err.shape != data.shape:
        product.err = np.zeros(data.shape, np.float32)
    if product.dq is None or product.dq.shape != data.shape:
        product.dq = np.zeros(data.shape, np.uint32)
    if not product.hasattr("artifacts") or product.artifacts is None or product.artifacts.shape != data.shape:
        product.artifacts = np.zeros(data.shape, np.uint16)
    return product.data, product.err, product.dq, product.artifacts


def optional(product: Any, name: str) -> Any:
    """An array the product may or may not carry (e.g. VAR_POISSON), or None."""
    return getattr(product, name) if product.hasattr(name) else None


def table_values(table: Any, dtype: Any = None) -> Any:
    """A plain numpy copy of a table, column by column.

    A table read from FITS is a FITS_rec whose buffer keeps unsigned columns
    offset by BZERO (flags 0 are stored as -2**31): copying the buffer itself,
    or writing it again, adds the offset twice. Its columns give the values.
    """
    import numpy as np

    out = np.zeros(len(table), dtype=dtype or np.asarray(table).dtype)
    for name in out.dtype.names:
        out[name] = np.asarray(table[name])
    return out
