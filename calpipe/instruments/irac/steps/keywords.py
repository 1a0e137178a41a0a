"""Header access for the IRAC steps: every missing or impossible keyword is a clear InputDataError."""

from __future__ import annotations

from typing import Any, NamedTuple

from calpipe.core.errors import InputDataError


class Fowler(NamedTuple):
    nfowler: int  # AFOWLNUM
    wait: int  # AWAITPER, ticks
    barrel: int  # ABARREL, bits


def _name(product: Any) -> str:
    return product.meta.filename or "input"


def channel(product: Any) -> int:
    """CHNLNUM (1-4), else the digit of DETECTOR 'CH1'..'CH4'."""
    value = product.meta.irac.channel
    if value is None:
        detector = (product.meta.instrument.detector or "").strip().upper()
        if detector in ("CH1", "CH2", "CH3", "CH4"):
            value = int(detector[-1])
    if value not in (1, 2, 3, 4):
        raise InputDataError(f"{_name(product)}: keyword CHNLNUM is {value!r}; an IRAC frame needs the "
                             "channel 1-4 (set CHNLNUM or DETECTOR = CH1..CH4)")
    return int(value)


def fowler(product: Any) -> Fowler:
    """AFOWLNUM, AWAITPER and ABARREL, checked."""
    irac = product.meta.irac
    values = {"AFOWLNUM": irac.fowler_number, "AWAITPER": irac.wait_period, "ABARREL": irac.barrel_shift}
    for keyword, value in values.items():
        if value is None:
            raise InputDataError(f"{_name(product)}: missing keyword {keyword}, needed to undo the on-board "
                                 "Fowler sampling (set it in the primary header)")
    n, w, b = (int(v) for v in values.values())
    if n < 1 or w < 0 or not 0 <= b <= 15:
        raise InputDataError(f"{_name(product)}: AFOWLNUM = {n}, AWAITPER = {w}, ABARREL = {b} is not an "
                             "IRAC readout (need N >= 1, W >= 0, 0 <= ABARREL <= 15; fix the header)")
    return Fowler(n, w, b)


def noise(product: Any) -> tuple[float, float]:
    """(GAIN [e⁻/DN], RONOISE [e⁻]) as irac_fowler recorded them."""
    gain, readnoise = product.meta.irac.gain, product.meta.irac.readnoise
    if gain is None or readnoise is None or gain <= 0 or readnoise < 0:
        raise InputDataError(f"{_name(product)}: GAIN = {gain}, RONOISE = {readnoise}; run irac_fowler first "
                             "(it records them) or set them in the header")
    return float(gain), float(readnoise)


def read_noise_dn(product: Any) -> float:
    gain, readnoise = noise(product)
    return readnoise / gain


def exposure_time(product: Any) -> float:
    """EXPTIME [s], else 0.2 (W + N) from the readout keywords."""
    from .readout import TICK

    value = product.meta.irac.exposure_time
    if value is None:
        f = fowler(product)
        value = TICK * (f.wait + f.nfowler)
    if not value > 0:
        raise InputDataError(f"{_name(product)}: EXPTIME = {value} must be positive (fix the header)")
    return float(value)


def bcd_arrays(product: Any, step: str) -> tuple[Any, Any, Any, Any]:
    """(data, err, dq, artifacts) of a BCD in progress, creating empty ERR/DQ/ARTIFACT planes if absent."""
    from calpipe.steps.arrays import bcd_arrays

    return bcd_arrays(product, step, "IRAC frame (IracBcdModel)", "run irac_fowler first")


def first_column(product: Any) -> int:
    """0-based full-frame column of the data's first column (SUBSTRT1 − 1, 0 for full frames)."""
    xstart = product.meta.subarray.xstart
    return 0 if xstart is None else int(xstart) - 1
