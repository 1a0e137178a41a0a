"""Array access shared by the steps: ramp planes and optional arrays of a product."""

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


def optional(product: Any, name: str) -> Any:
    """An array the product may or may not carry (e.g. VAR_POISSON), or None."""
    return getattr(product, name) if product.hasattr(name) else None
