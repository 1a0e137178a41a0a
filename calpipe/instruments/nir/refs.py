"""Deterministic nir reference files (built-in context 2): the detector model's true maps.

The references are exact (no measurement noise), so a test can tell a step's
error from a reference's. `meta.date` is fixed to the use-after date so the
same software writes the same bytes, and the published hashes stay valid.
"""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

from .detector import DEFAULT_SEED, DetectorMaps, detector_maps

DETECTOR = "NRCA1"
USEAFTER = "2020-01-01T00:00:00"
VERSION = "0001"


def _arrays(maps: DetectorMaps) -> dict[str, dict[str, np.ndarray]]:
    """Arrays of each reference type (copies: the maps themselves are shared and read-only)."""
    beta = maps.beta.astype(np.float32)
    linearity = np.stack([np.zeros_like(beta), np.ones_like(beta), beta, 2.0 * beta * beta])
    flat_dq = np.where(maps.flat > 0, 0, DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE).astype(np.uint32)
    return {
        "mask": {"dq": maps.dq.copy()},
        "saturation": {"data": maps.saturation.copy()},
        "superbias": {"data": maps.bias.copy()},
        "linearity": {"data": linearity.astype(np.float32)},
        "dark": {"data": maps.dark.copy()},
        "gain": {"data": maps.gain.copy()},
        "readnoise": {"data": maps.readnoise.copy()},
        "flat": {"data": maps.flat.copy(), "err": np.full(maps.flat.shape, 1e-3, np.float32), "dq": flat_dq},
        "photom": {"data": np.full((1, 1), maps.photmjsr, np.float32)},
    }


_DESCRIPTIONS = {
    "mask": "bad pixels: HOT/DEAD (DO_NOT_USE), LOW_QE; REFERENCE_PIXEL border",
    "saturation": "saturation threshold [DN, bias included]",
    "superbias": "bias [DN]",
    "linearity": "linearity coefficients c = [0, 1, beta, 2 beta^2] of S = Q - beta Q^2",
    "dark": "dark current [DN/s]",
    "gain": "gain [e-/DN]",
    "readnoise": "read noise of one frame [DN]",
    "flat": "pixel-response flat field",
    "photom": "PHOTMJSR [MJy/sr per DN/s] and PIXAR_SR",
}


def build(detector: str = DETECTOR, seed: int = DEFAULT_SEED) -> list[tuple[str, object]]:
    """(file name, ReferenceFileModel) for every nir reference type, e.g. nir_nrca1_flat_0001.fits."""
    from calpipe.core.models.products import ReferenceFileModel

    from .plugin import REFTYPES

    maps = detector_maps(detector, seed)
    arrays = _arrays(maps)
    out = []
    for reftype in REFTYPES:
        ref = ReferenceFileModel(**arrays[reftype])
        ref.meta.date = USEAFTER  # fixed, so the bytes (and the hash) never change
        ref.meta.reftype = reftype
        ref.meta.instrument.name = "NIR"
        ref.meta.instrument.detector = maps.detector
        ref.meta.description = f"nir {maps.detector} {_DESCRIPTIONS[reftype]} (simulated, seed {seed})"
        ref.meta.author = "calpipe.instruments.nir"
        ref.meta.pedigree = "SIMULATION"
        ref.meta.useafter = USEAFTER
        if reftype == "photom":
            ref.meta.photometry.conversion_megajanskys = maps.photmjsr
            ref.meta.photometry.pixelarea_steradians = maps.pixar_sr
        out.append((f"nir_{maps.detector.lower()}_{reftype}_{VERSION}.fits", ref))
    return out
