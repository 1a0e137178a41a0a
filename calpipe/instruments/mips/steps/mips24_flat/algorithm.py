"""The 24 um flat depends on the scan-mirror position: dust spots on the mirror move across the array.

The flat reference is a cube, one plane per scan-mirror position of the photometry dither pattern
(the CSMPOS table). The DCE's flat is the plane at its CSMPOS, linearly interpolated between the two
bracketing planes when it falls between them (exact at the table's positions, which are the ones
the observing mode uses). Spots are marked where the flat lies more than ``spot_depth`` below the
pixel's median over all positions.
"""

from __future__ import annotations

import numpy as np


def flat_at(cube: np.ndarray, positions: np.ndarray, csm: float) -> np.ndarray:
    """The flat at scan-mirror position ``csm`` (float32); positions ascending, csm within their range."""
    positions = np.asarray(positions, np.float64)
    i = int(np.searchsorted(positions, csm))
    if i < len(positions) and positions[i] == csm:
        return np.asarray(cube[i], np.float32)
    if i == 0 or i == len(positions):
        raise ValueError(f"scan-mirror position {csm} lies outside the flat's "
                         f"{positions[0]}..{positions[-1]}")
    f = (csm - positions[i - 1]) / (positions[i] - positions[i - 1])
    return ((1.0 - f) * cube[i - 1].astype(np.float64) + f * cube[i].astype(np.float64)).astype(np.float32)


def spots(cube: np.ndarray, flat: np.ndarray, depth: float = 0.05) -> np.ndarray:
    """Pixels whose flat lies more than ``depth`` (fraction) below their median over positions."""
    median = np.median(cube, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (median > 0) & (flat < (1.0 - depth) * median)
