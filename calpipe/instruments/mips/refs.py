"""Deterministic MIPS reference files (built-in context 4): the detector model's true maps.

Every file is a MipsReferenceModel selected by DETECTOR (MIPS24, MIPS70, MIPS160) and named
mips<band>_<reftype>_0001.fits; meta.date is fixed to the use-after date and the maps come
from the seeded detector model, so the same software writes the same bytes.

24 um: mask (dq); saturation (well [measured DN above the reset]); linearity (1, 128, 128) =
alpha [1/DN]; droop (c); dark [DN/s]; flat (8, 128, 128), one plane per scan-mirror position
in the CSMPOS table (scan_positions); photom (PHOTMJSR = FLUXCONV [MJy/sr per DN/s], PIXAR_SR).
70/160 um: mask; saturation [raw DN per read, bias included]; superbias [DN]; linearity
(7, ny, nx) coefficients of Q = sum c_k F^k; dark [DN/s]; gain [e-/DN]; readnoise [DN per read];
illumination = 1 / (stim brightness x stim pattern) [1/MIU]; photom (MJy/sr per MIU, PIXAR_SR).

Built-in context 5 adds mips_psf_0001.fits (type psf, every array in one file): the optical PSF of
MIPS24, MIPS70 and MIPS160 (the Gaussian of each band's FWHM the simulator images the sky with),
PSF_OVERSAMPLING samples per detector pixel out to PSF_HALF_PX pixels, unit sum per plane.
"""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

from . import detector as det

USEAFTER = "2003-08-25T00:00:00"  # launch
VERSION = "0001"
TYPES_24 = ("mask", "saturation", "linearity", "droop", "dark", "flat", "photom")
PSF_DETECTORS = ("MIPS24", "MIPS70", "MIPS160")  # the planes of the psf file
PSF_OVERSAMPLING = 8
PSF_HALF_PX = 8
TYPES_GE = ("mask", "saturation", "superbias", "linearity", "dark", "gain", "readnoise", "illumination",
            "photom")

_DESCRIPTIONS = {  # short: DESCRIP stays one FITS card
    "mask": "bad pixels: DEAD/HOT (DO_NOT_USE)",
    "saturation": "saturation level [DN]",
    "linearity": "electronic nonlinearity",
    "droop": "droop coefficient c",
    "dark": "dark rate [DN/s]",
    "flat": "flat per scan-mirror position",
    "superbias": "reset level [DN]",
    "gain": "gain [e-/DN]",
    "readnoise": "read noise of one read [DN]",
    "illumination": "illumination correction [1/MIU]",
    "photom": "FLUXCONV and PIXAR_SR",
    "psf": "optical PSF per array",
}


def _arrays24(reftype: str, seed: int) -> dict[str, np.ndarray]:
    maps = det.maps24(seed)
    if reftype == "mask":
        return {"dq": maps.dq.copy()}
    if reftype == "saturation":
        return {"data": maps.well.copy()}
    if reftype == "linearity":
        return {"data": maps.alpha[None].astype(np.float32)}
    if reftype == "droop":
        return {"data": maps.droop.copy()}
    if reftype == "dark":
        return {"data": maps.dark.copy()}
    if reftype == "flat":
        cube = maps.flat_cube()
        dq = np.where((cube > 0).all(axis=0), 0, DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE).astype(np.uint32)
        return {"data": cube, "err": np.full(cube.shape, 1e-3, np.float32), "dq": dq}
    if reftype == "photom":
        return {"data": np.full((1, 1), det.BANDS[24].fluxconv, np.float32)}
    raise ValueError(f"unknown 24 um reference type '{reftype}'")


def _arrays_ge(number: int, reftype: str, seed: int) -> dict[str, np.ndarray]:
    b = det.BANDS[number]
    maps = det.maps_ge(number, seed)
    if reftype == "mask":
        return {"dq": maps.dq.copy()}
    if reftype == "saturation":
        return {"data": maps.saturation.copy()}
    if reftype == "superbias":
        return {"data": maps.bias.copy()}
    if reftype == "linearity":
        return {"data": maps.linearity_coeffs()}
    if reftype == "dark":
        return {"data": maps.dark.copy()}
    if reftype == "gain":
        return {"data": np.full(b.shape, b.gain, np.float32)}
    if reftype == "readnoise":
        return {"data": np.full(b.shape, b.read_sigma_dn, np.float32)}
    if reftype == "illumination":
        return {"data": maps.illumination(b.stim_miu)}
    if reftype == "photom":
        return {"data": np.full((1, 1), b.fluxconv, np.float32)}
    raise ValueError(f"unknown {number} um reference type '{reftype}'")


def build_one(number: int, reftype: str, seed: int = det.DEFAULT_SEED):
    """(file name, MipsReferenceModel) of one band's reference of one type."""
    from .models import MipsReferenceModel

    b = det.BANDS[number]
    arrays = _arrays_ge(number, reftype, seed) if b.is_ge else _arrays24(reftype, seed)
    ref = MipsReferenceModel(**arrays)
    ref.meta.date = USEAFTER  # fixed, so the bytes (and the hash) never change
    ref.meta.reftype = reftype
    ref.meta.telescope = "Spitzer"
    ref.meta.instrument.name = "MIPS"
    ref.meta.instrument.detector = b.detector
    ref.meta.mips.band = b.band
    if reftype == "flat":
        ref.scan_positions = np.asarray(det.CSM_POSITIONS, np.float64)
    if reftype == "photom":
        ref.meta.photometry.conversion_megajanskys = b.fluxconv
        ref.meta.photometry.pixelarea_steradians = b.pixar_sr
    ref.meta.description = f"{b.detector} {_DESCRIPTIONS[reftype]} (sim {seed})"
    ref.meta.author = "calpipe.instruments.mips"
    ref.meta.pedigree = "SIMULATION"
    ref.meta.useafter = USEAFTER
    return f"mips{b.band}_{reftype}_{VERSION}.fits", ref


def build(seed: int = det.DEFAULT_SEED) -> list[tuple[str, object]]:
    """Every MIPS reference: 7 types at 24 um, 9 at 70 and at 160 um."""
    out = [build_one(24, t, seed) for t in TYPES_24]
    for number in (70, 160):
        out.extend(build_one(number, t, seed) for t in TYPES_GE)
    return out


def build_psf() -> list[tuple[str, object]]:
    """The psf reference: one plane per array (:data:`PSF_DETECTORS`), sampled in detector pixels."""
    from .models import MipsReferenceModel

    n = PSF_HALF_PX * PSF_OVERSAMPLING
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1] / PSF_OVERSAMPLING
    planes, scales = [], []
    for detector in PSF_DETECTORS:
        b = next(b for b in det.BANDS.values() if b.detector == detector)
        plane = np.exp(-(xx**2 + yy**2) / (2.0 * b.psf_sigma_px**2))
        planes.append(plane / plane.sum())
        scales.append(b.pixel_scale_arcsec)
    ref = MipsReferenceModel(data=np.asarray(planes, np.float32))
    ref.pixel_scales = np.asarray(scales, np.float64)
    ref.meta.date = USEAFTER
    ref.meta.reftype = "psf"
    ref.meta.telescope = "Spitzer"
    ref.meta.instrument.name = "MIPS"
    ref.meta.mips.psf_oversampling = PSF_OVERSAMPLING
    ref.meta.description = f"MIPS {_DESCRIPTIONS['psf']} (Gaussian FWHM per band)"
    ref.meta.author = "calpipe.instruments.mips"
    ref.meta.pedigree = "SIMULATION"
    ref.meta.useafter = USEAFTER
    return [(f"mips_psf_{VERSION}.fits", ref)]
