"""Cosmic-ray hits: Poisson in number, uniform in time and position, lognormal in charge."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Hits(NamedTuple):
    """One row per hit: time [s from the start], position (y, x) [pixels], charge [e-]."""

    time: np.ndarray
    y: np.ndarray
    x: np.ndarray
    charge: np.ndarray


def draw_hits(rng: np.random.Generator, mean_count: float, duration: float, shape: tuple[int, int],
              median_charge: float, sigma_ln: float) -> Hits:
    """Hits over ``duration`` seconds on an array of ``shape``, positions anywhere on the pixels.

    ``mean_count`` is the expected number (rate x area x time, computed by the
    instrument, which knows its pixel size). Draw order: count, times, y, x, charges.
    """
    ny, nx = shape
    n = rng.poisson(mean_count)
    t = rng.uniform(0.0, duration, n)
    yc, xc = rng.uniform(-0.5, ny - 0.5, n), rng.uniform(-0.5, nx - 0.5, n)
    charge = median_charge * np.exp(sigma_ln * rng.standard_normal(n))
    return Hits(t, yc, xc, charge)


def empty_tables(*tables: dict[str, type]) -> tuple[dict[str, np.ndarray], ...]:
    """Column dicts with no rows, one per ``tables`` spec (column -> dtype), for a run without hits.

    Columns of one dtype share one empty array, in every table, as the truth files always had.
    """
    shared: dict[np.dtype, np.ndarray] = {}
    return tuple({name: shared.setdefault(np.dtype(dtype), np.zeros(0, dtype))
                  for name, dtype in table.items()} for table in tables)
