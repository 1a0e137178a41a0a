"""Raw Ge reads (uint16, nreads x ny x nx) to float ramps (1, nreads, ny, nx) in DN.

The reads are kept as they are (bias included): the generic saturation step compares each read
with the raw threshold, superbias then removes the reset level, and so on. Sample-up-the-ramp
reads are single frames: NFRAMES = 1, GROUPGAP = 0, TFRAME = TGROUP = SAMPTIME.
"""

from __future__ import annotations

import numpy as np


def to_ramps(raw: np.ndarray) -> np.ndarray:
    return np.asarray(raw, np.float32)[None].copy()
