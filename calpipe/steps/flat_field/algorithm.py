"""Flat-field division with variance propagation."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from calpipe.core.models.dqflags import DQ


class Flattened(NamedTuple):
    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray | None
    var_rnoise: np.ndarray | None


def apply_flat(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, flat: np.ndarray,
               flat_err: np.ndarray | None, flat_dq: np.ndarray | None,
               var_poisson: np.ndarray | None = None, var_rnoise: np.ndarray | None = None,
               min_flat: float = 0.0) -> Flattened:
    """Divide by the flat where it is usable; elsewhere leave the data and flag it.

    Variances scale by 1/flat²; the flat's own uncertainty adds
    (sci·σ_flat/flat)² to the total error. Unusable flat pixels (NaN, <= min_flat)
    get NO_FLAT_FIELD | DO_NOT_USE and keep their values.
    """
    if flat.shape != sci.shape:
        raise ValueError(f"flat shape {flat.shape} does not match the data's {sci.shape}")
    good = np.isfinite(flat) & (flat > min_flat)
    divisor = np.where(good, flat, 1.0).astype(np.float32)
    out_sci = (sci / divisor).astype(np.float32)
    total_var = (err / divisor) ** 2
    if flat_err is not None:
        rel = np.where(good, np.nan_to_num(flat_err) / divisor, 0.0)
        total_var = total_var + (out_sci * rel) ** 2
    out_dq = dq.astype(np.uint32, copy=True)
    if flat_dq is not None:
        out_dq |= flat_dq.astype(np.uint32)
    out_dq[~good] |= DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE
    scale = divisor.astype(np.float32) ** 2
    return Flattened(
        out_sci,
        np.sqrt(total_var).astype(np.float32),
        out_dq,
        None if var_poisson is None else (var_poisson / scale).astype(np.float32),
        None if var_rnoise is None else (var_rnoise / scale).astype(np.float32),
    )
