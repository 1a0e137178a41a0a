"""Bad pixels: one uniform draw per pixel splits them into hot, dead and low-QE."""

from __future__ import annotations

import numpy as np

BOUNDS = (0.002, 0.003, 0.005)  # draw below: hot (0.2 %), dead (next 0.1 %), low QE (next 0.2 %)


def draw_bad_pixels(rng: np.random.Generator, shape: tuple[int, int], exclude: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean maps (hot, dead, low_qe), disjoint; pixels in ``exclude`` (e.g. a reference border) are none.

    What each class does to the dark and the flat is the instrument's.
    """
    draw = rng.random(shape, dtype=np.float32)
    if exclude is not None:
        draw[exclude] = 1.0
    hot_below, dead_below, low_below = BOUNDS
    hot, dead = draw < hot_below, (draw >= hot_below) & (draw < dead_below)
    return hot, dead, (draw >= dead_below) & (draw < low_below)
