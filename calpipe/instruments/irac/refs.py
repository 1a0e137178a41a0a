"""Deterministic IRAC reference files (built-in context 3): the detector model's true maps.

All four channels, full 256 x 256; the frame-time dependent types (dark,
firstframe) for every supported frame time (0.6, 2, 12, 30, 100 s). Files are
IracReferenceModel, so they carry DETECTOR (CH1..CH4), CHNLNUM and, for the
frame-time types, FRAMTIME (a float, e.g. 12.0, matched as text against the
product's FRAMTIME). Names: irac_ch<ch>_<reftype>_0001.fits, or
irac_ch<ch>_<reftype>_<frame time>_0001.fits with the frame time as 0p6, 2,
12, 30, 100. The references are exact (no measurement noise), and meta.date is
fixed to the use-after date, so the same software writes the same bytes.

Contents (see detector.py for the laws):
  mask        dq: HOT|DO_NOT_USE, DEAD|DO_NOT_USE, LOW_QE
  dark        data [DN per frame] = dark current x EXPTIME + the electronic dark pattern
              (first-frame offsets not included: they depend on FRAMEDLY)
  firstframe  data (2, 256, 256) = [a, b] [DN per frame]: offset = a + b log10(FRAMEDLY / 1 s)
  linearity   data (1, 256, 256) = alpha [1/DN]: read = Q (1 + alpha Q); normalised Fowler
              difference M = L + alpha (T_lin / Te) L², T_lin = EXPTIME + 0.2 (AFOWLNUM + 1) s
  flat        data, err (1e-3), dq (NO_FLAT_FIELD|DO_NOT_USE where the flat is 0)
  fluxconv    data (1, 1) = FLUXCONV [MJy/sr per DN/s]; PHOTMJSR = FLUXCONV, PIXAR_SR, FLUXCONV keyword
"""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

from .detector import CHANNELS, DEFAULT_SEED, FRAME_TIMES, PIXAR_SR, detector_maps, frame_time_maps, readout

USEAFTER = "2003-08-25T00:00:00"  # launch
VERSION = "0001"
FRAME_TIME_TYPES = ("dark", "firstframe")

_DESCRIPTIONS = {  # short: DESCRIP stays one FITS card (<= 68 characters)
    "mask": "bad pixels: HOT/DEAD (DO_NOT_USE), LOW_QE",
    "dark": "dark [DN/frame]: idark x EXPTIME + pattern",
    "firstframe": "first frame a + b lg(FRAMEDLY) [DN/frame]",
    "linearity": "alpha [1/DN] of read = Q (1 + alpha Q)",
    "flat": "pixel-response flat field",
    "fluxconv": "FLUXCONV [MJy/sr per DN/s] and PIXAR_SR",
}


def frame_time_label(frame_time: float) -> str:
    """0.6 -> '0p6', 12.0 -> '12' (for file names)."""
    return f"{frame_time:g}".replace(".", "p")


def _arrays(number: int, seed: int, reftype: str, frame_time: float | None) -> dict[str, np.ndarray]:
    """Arrays of one reference file (copies: the maps are shared and read-only)."""
    maps = detector_maps(number, seed)
    if reftype == "mask":
        return {"dq": maps.dq.copy()}
    if reftype == "dark":
        return {"data": maps.dark(frame_time)}
    if reftype == "firstframe":
        ft = frame_time_maps(number, frame_time, seed)
        return {"data": np.stack([ft.firstframe_a, ft.firstframe_b]).astype(np.float32)}
    if reftype == "linearity":
        return {"data": maps.alpha[None].astype(np.float32)}
    if reftype == "flat":
        flat_dq = np.where(maps.flat > 0, 0, DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE).astype(np.uint32)
        return {"data": maps.flat.copy(), "err": np.full(maps.flat.shape, 1e-3, np.float32), "dq": flat_dq}
    if reftype == "fluxconv":
        return {"data": np.full((1, 1), maps.fluxconv, np.float32)}
    raise ValueError(f"unknown irac reference type '{reftype}'")


def build_one(number: int, reftype: str, frame_time: float | None = None, seed: int = DEFAULT_SEED):
    """(file name, IracReferenceModel) of one channel's reference of one type (and frame time)."""
    from .models import IracReferenceModel

    maps = detector_maps(number, seed)
    ref = IracReferenceModel(**_arrays(number, seed, reftype, frame_time))
    ref.meta.date = USEAFTER  # fixed, so the bytes (and the hash) never change
    ref.meta.reftype = reftype
    ref.meta.telescope = "Spitzer"
    ref.meta.instrument.name = "IRAC"
    ref.meta.instrument.detector = maps.detector
    ref.meta.irac.channel = number
    what = f"{maps.detector} {_DESCRIPTIONS[reftype]}"
    name = f"irac_ch{number}_{reftype}"
    if frame_time is not None:
        ro = readout(frame_time)
        ref.meta.irac.frame_time = ro.frame_time
        ref.meta.irac.exposure_time = ro.exposure_time
        ref.meta.irac.fowler_number = ro.fowler
        ref.meta.irac.wait_period = ro.wait
        what += f", {ro.frame_time:g} s"
        name += f"_{frame_time_label(ro.frame_time)}"
    ref.meta.description = f"{what} (sim {seed})"
    ref.meta.author = "calpipe.instruments.irac"
    ref.meta.pedigree = "SIMULATION"
    ref.meta.useafter = USEAFTER
    if reftype == "fluxconv":
        ref.meta.photometry.conversion_megajanskys = maps.fluxconv
        ref.meta.photometry.pixelarea_steradians = PIXAR_SR
        ref.meta.irac.fluxconv = maps.fluxconv
    return f"{name}_{VERSION}.fits", ref


def build(seed: int = DEFAULT_SEED, channels: tuple[int, ...] = tuple(CHANNELS)) -> list[tuple[str, object]]:
    """Every IRAC reference: 4 channels x (4 types + 2 types x 5 frame times) = 56 files."""
    from .plugin import REFTYPES

    out = []
    for number in channels:
        for reftype in REFTYPES:
            if reftype in FRAME_TIME_TYPES:
                out.extend(build_one(number, reftype, ft, seed) for ft in FRAME_TIMES)
            else:
                out.append(build_one(number, reftype, None, seed))
    return out
