"""Ge ramps to slopes with the generic ramp algorithms (pure numpy; shared by mips_ge_slope and
mips_stim_response, which must treat the stim-cycle ramps exactly as the exposure's own).

The chain per ramp (data (nints, nreads, ny, nx) in DN): per-read saturation (saturation.algorithm)
-> reset level (superbias.algorithm) -> nonlinearity polynomial (linearity.algorithm) -> jumps
(jump.algorithm, two-point differences) -> segments shorter than ``min_reads`` dropped
(short_segments) -> optimally weighted slope per segment, segments combined by inverse variance
(ramp_fit.algorithm): a cosmic ray's charge is removed with the read difference it sits in.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from calpipe.core.models.dqflags import DQ

EXCLUDED = DQ.DO_NOT_USE | DQ.SATURATED | DQ.DROPOUT | DQ.AD_FLOOR


def short_segments(groupdq: np.ndarray, min_reads: int) -> np.ndarray:
    """Groups of usable runs shorter than ``min_reads`` (a JUMP_DET group starts a new run).

    groupdq (nints, ngroups, ny, nx); returns a bool array of the same shape.
    """
    usable = (groupdq & np.uint8(EXCLUDED)) == 0
    jump = (groupdq & np.uint8(DQ.JUMP_DET)) != 0
    previous = np.zeros_like(usable)
    previous[:, 1:] = usable[:, :-1]
    start = usable & (jump | ~previous)
    ids = np.cumsum(start, axis=1) * usable  # 0 where unusable
    same = (ids[:, :, None] == ids[:, None, :]) & usable[:, None, :]
    length = same.sum(axis=2)
    return usable & (length < int(min_reads))


class Slopes(NamedTuple):
    slope: np.ndarray  # DN/s
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    groupdq: np.ndarray


def fit(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, gain: np.ndarray, readnoise: np.ndarray,
        dt: float, min_reads: int) -> Slopes:
    """Slopes of already corrected ramps whose jumps are flagged: short segments dropped first."""
    from calpipe.steps.ramp_fit.algorithm import fit_ramps

    gdq = np.array(groupdq, np.uint8, copy=True)
    gdq[short_segments(gdq, min_reads)] |= np.uint8(DQ.DO_NOT_USE)
    f = fit_ramps(data, gdq, pixeldq, gain, readnoise, dt, 1, 0)
    return Slopes(f.slope, f.err, f.dq, f.var_poisson, f.var_rnoise, gdq)


def ramp_slopes(raw: np.ndarray, pixeldq: np.ndarray, saturation: np.ndarray, bias: np.ndarray,
                coeffs: np.ndarray, gain: np.ndarray, readnoise: np.ndarray, dt: float, min_reads: int = 4,
                rejection_threshold: float = 4.0) -> Slopes:
    """The whole chain for raw reads (nreads, ny, nx) or (nints, nreads, ny, nx) of uint16."""
    from calpipe.steps.jump.algorithm import detect_jumps
    from calpipe.steps.linearity.algorithm import correct_linearity
    from calpipe.steps.saturation.algorithm import flag_saturation
    from calpipe.steps.superbias.algorithm import subtract_bias

    data = np.asarray(raw, np.float32)
    if data.ndim == 3:
        data = data[None]
    data = data.copy()
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.array(pixeldq, np.uint32, copy=True)
    flag_saturation(data, gdq, pdq, saturation, 0)
    subtract_bias(data, pdq, bias)
    correct_linearity(data, gdq, pdq, coeffs)
    gdq = detect_jumps(data, gdq, gain, readnoise, 1, rejection_threshold=rejection_threshold,
                       flag_neighbors=False, groupgap=0)
    return fit(data, gdq, pdq, gain, readnoise, dt, min_reads)
