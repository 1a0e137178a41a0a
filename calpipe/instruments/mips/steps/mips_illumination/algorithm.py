"""Illumination correction: data in stim units divided by 1 / (stim brightness x pattern) gives MIU.

After mips_stim_response a pixel holds sky / (stim brightness x P) (its gain and R(t) cancelled).
The illumination reference is 1 / (stim brightness [MIU] x P), so data / illumination is the sky
in MIU, the instrument unit that FLUXCONV (photom) turns into MJy/sr.
"""

from __future__ import annotations

import numpy as np


def correct(data: np.ndarray, err: np.ndarray, illum: np.ndarray):
    """(data, err, scale per pixel, bad): bad where the illumination is not positive and finite."""
    good = np.isfinite(illum) & (illum > 0)
    scale = np.where(good, 1.0 / np.where(good, illum, 1.0), 1.0)
    return ((data * scale).astype(np.float32), (np.asarray(err) * scale).astype(np.float32), scale, ~good)
