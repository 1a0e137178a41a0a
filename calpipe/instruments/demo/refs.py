"""Deterministic demo reference files: the same bytes from the same software, every time."""

from __future__ import annotations

import numpy as np

from calpipe.core.models.dqflags import DQ

SHAPE = (128, 128)
DETECTOR = "DEMO1"
SEED = 20260101
USEAFTER = "2000-01-01T00:00:00"


def flat_and_mask() -> tuple[np.ndarray, np.ndarray]:
    """Pixel flat (2 % rms, 2 % gradient, a few dead pixels) and bad-pixel mask."""
    rng = np.random.default_rng(SEED)
    nx = SHAPE[1]
    xx = np.arange(nx)[None, :]
    flat = (1.0 + 0.02 * rng.standard_normal(SHAPE) + 0.02 * (xx / nx - 0.5)).astype(np.float32)
    flat[rng.random(SHAPE) < 0.002] = 0.0  # unusable flat pixels
    mask = np.zeros(SHAPE, np.uint32)
    mask[rng.random(SHAPE) < 0.01] = DQ.DO_NOT_USE | DQ.HOT
    return flat, mask


def build() -> list[tuple[str, object]]:
    from calpipe.core.models.products import ReferenceFileModel

    flat, mask = flat_and_mask()
    out = []
    for reftype, arrays in (("mask", {"dq": mask}),
                            ("flat", {"data": flat, "err": np.full(SHAPE, 1e-4, np.float32)})):
        ref = ReferenceFileModel(**arrays)
        ref.meta.date = USEAFTER  # fixed, so the bytes (and the hash) never change
        ref.meta.reftype = reftype
        ref.meta.instrument.name = "DEMO"
        ref.meta.instrument.detector = DETECTOR
        ref.meta.description = f"demo {reftype} (simulated, seed {SEED})"
        ref.meta.author = "calpipe.instruments.demo"
        ref.meta.pedigree = "SIMULATION"
        ref.meta.useafter = USEAFTER
        out.append((f"demo_{reftype}_0001.fits", ref))
    return out
