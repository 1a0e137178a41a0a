"""Header access for the MIPS steps: missing or impossible keywords become clear InputDataErrors."""

from __future__ import annotations

from typing import Any, NamedTuple

from calpipe.core.errors import InputDataError

DETECTORS = {"MIPS24": 24, "MIPS70": 70, "MIPS160": 160}


class Readout(NamedTuple):
    nreads: int  # NREADS
    dt: float  # SAMPTIME [s]

    @property
    def times(self):
        """Sample times after the reset: t_i = (i + 1) SAMPTIME."""
        import numpy as np

        return (np.arange(self.nreads) + 1.0) * self.dt


def name(product: Any) -> str:
    return product.meta.filename or "input"


def band(product: Any) -> int | None:
    """MIPSBAND, else the band of DETECTOR (MIPS24/MIPS70/MIPS160), else None."""
    value = product.meta.mips.band
    if value is None:
        value = DETECTORS.get((product.meta.instrument.detector or "").strip().upper())
    return None if value is None else int(value)


def require_band(product: Any, allowed: tuple[int, ...], step: str, pipelines: str) -> int:
    """The product's band, refusing any other than ``allowed`` with the pipeline to use instead."""
    value = band(product)
    if value not in allowed:
        det = product.meta.instrument.detector
        want = " or ".join(f"{a} um" for a in allowed)
        raise InputDataError(f"{name(product)}: MIPSBAND = {value} (DETECTOR = {det}); {step} takes {want} "
                             f"data only (use {pipelines})")
    return int(value)


def readout(product: Any) -> Readout:
    """NREADS and SAMPTIME, checked."""
    m = product.meta.mips
    for keyword, value in (("NREADS", m.nreads), ("SAMPTIME", m.sample_time)):
        if value is None:
            raise InputDataError(f"{name(product)}: missing keyword {keyword}, needed for the sample times "
                                 "(set it in the primary header)")
    if int(m.nreads) < 2 or not float(m.sample_time) > 0:
        raise InputDataError(f"{name(product)}: NREADS = {m.nreads}, SAMPTIME = {m.sample_time} is not a "
                             "MIPS readout (need NREADS >= 2 and SAMPTIME > 0; fix the header)")
    return Readout(int(m.nreads), float(m.sample_time))


def noise(product: Any, gain: float | None = None, readnoise: float | None = None) -> tuple[float, float]:
    """(GAIN [e-/DN], RONOISE [e-]); step parameters, when given, win over the header."""
    gain = product.meta.mips.gain if gain is None else gain
    readnoise = product.meta.mips.readnoise if readnoise is None else readnoise
    if gain is None or readnoise is None or not gain > 0 or readnoise < 0:
        raise InputDataError(f"{name(product)}: GAIN = {gain}, RONOISE = {readnoise}; both are needed for "
                             "the uncertainties (set them in the header or as step parameters)")
    return float(gain), float(readnoise)


def bcd_arrays(product: Any, step: str) -> tuple[Any, Any, Any, Any]:
    """(data, err, dq, artifacts) of a MIPS BCD in progress, creating empty planes where absent."""
    from calpipe.steps.arrays import bcd_arrays

    return bcd_arrays(product, step, "MIPS image (MipsBcdModel)", "run mips24_slope or mips_ge_slope first")


def reference_data(ref: Any, shape: tuple[int, ...], what: str) -> Any:
    """A reference's SCI array, checked against the data's shape (RefDataError otherwise)."""
    from calpipe.core.errors import RefDataError

    data = ref.data
    if data is None or tuple(data.shape[-len(shape):]) != tuple(shape):
        got = None if data is None else data.shape
        raise RefDataError(f"{ref.meta.filename}: {what} reference has SCI shape {got}, the data are {shape} "
                           "(use the reference of this MIPS array)")
    return data
