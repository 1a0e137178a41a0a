"""Saturation flagging against a per-pixel threshold map."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

SATURATED = np.uint8(DQ.SATURATED | DQ.DO_NOT_USE)
AD_FLOOR = np.uint8(DQ.AD_FLOOR | DQ.DO_NOT_USE)


def grow(mask: np.ndarray, n_pix: int) -> np.ndarray:
    """``mask`` (..., Y, X) dilated ``n_pix`` times by its 4-connected neighbours (a diamond)."""
    out = mask.copy()
    for _ in range(n_pix):
        prev = out.copy()
        out[..., 1:, :] |= prev[..., :-1, :]
        out[..., :-1, :] |= prev[..., 1:, :]
        out[..., :, 1:] |= prev[..., :, :-1]
        out[..., :, :-1] |= prev[..., :, 1:]
    return out


def flag_saturation(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, threshold: np.ndarray,
                    n_pix_grow_sat: int = 1, ref_dq: np.ndarray | None = None) -> None:
    """Flag, in place, saturated and A/D-floor groups of ramps ``data`` (nints, ngroups, Y, X).

    A pixel saturates at the first group >= ``threshold`` (DN, bias included)
    and stays saturated in every later group: the charge does not go away.
    Its ``n_pix_grow_sat`` nearest 4-connected neighbours get the same groups
    flagged, since charge spills over. Groups at or below 0 DN are at the A/D
    floor (only those groups). A NaN threshold means the pixel cannot be
    checked: NO_SAT_CHECK in ``pixeldq``, no group flagged for saturation.
    The reference's own DQ (``ref_dq``), if any, is OR-ed into ``pixeldq`` and
    its NO_SAT_CHECK pixels are not checked either.
    The loop is over groups only; each step is vectorised over integrations
    and pixels and keeps a running (nints, Y, X) mask, not a 4-D one.
    """
    if threshold.shape != data.shape[-2:]:
        raise ValueError(f"saturation map shape {threshold.shape} does not match the data's "
                         f"{data.shape[-2:]}")
    unchecked = np.isnan(threshold)
    if ref_dq is not None:
        pixeldq |= ref_dq.astype(np.uint32)
        unchecked |= (ref_dq & DQ.NO_SAT_CHECK) != 0
    pixeldq[unchecked] |= np.uint32(DQ.NO_SAT_CHECK)
    limit = np.where(unchecked, np.inf, threshold).astype(np.float32)
    saturated = np.zeros((data.shape[0], *data.shape[-2:]), bool)
    for g in range(data.shape[1]):
        plane = data[:, g]
        saturated |= plane >= limit
        flags = groupdq[:, g]
        flags[grow(saturated, n_pix_grow_sat) if n_pix_grow_sat else saturated] |= SATURATED
        flags[plane <= 0] |= AD_FLOOR
