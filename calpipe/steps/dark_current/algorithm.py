"""Dark-current subtraction from ramps."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def group_times(ngroups: int, frame_time: float, nframes: int, groupgap: int) -> np.ndarray:
    """Mean time since reset of each group's frames [s].

    Frame j (1-based) is read at j·TFRAME; group k (0-based) averages frames
    k(nframes+groupgap)+1 … k(nframes+groupgap)+nframes, whose mean time is
    TFRAME·(k(nframes+groupgap) + (nframes+1)/2).
    """
    k = np.arange(ngroups, dtype=np.float64)
    return frame_time * (k * (nframes + groupgap) + (nframes + 1) / 2.0)


def subtract_dark(data: np.ndarray, pixeldq: np.ndarray, dark_rate: np.ndarray, times: np.ndarray,
                  ref_dq: np.ndarray | None = None) -> None:
    """Subtract ``dark_rate`` (DN/s, (Y, X)) × ``times[k]`` from group k of ``data``, in place.

    Pixels with no dark value (non-finite) keep their data and are flagged
    DO_NOT_USE. The reference's DQ, if any, is OR-ed into ``pixeldq``.
    """
    if dark_rate.shape != data.shape[-2:]:
        raise ValueError(f"dark shape {dark_rate.shape} does not match the data's {data.shape[-2:]}")
    if len(times) != data.shape[1]:
        raise ValueError(f"{len(times)} group times for {data.shape[1]} groups")
    missing = ~np.isfinite(dark_rate)
    rate = np.where(missing, 0.0, dark_rate)
    pixeldq[missing] |= np.uint32(DQ.DO_NOT_USE)
    if ref_dq is not None:
        pixeldq |= ref_dq.astype(np.uint32)
    for k, t in enumerate(times):
        data[:, k] -= (rate * t).astype(np.float32)
