"""The true detector of the nir simulation: one seeded model shared by references and simulator.

Every map is full frame (2048 x 2048, float32 unless said otherwise) and
follows JWST's HgCdTe detectors (JDox: NIRCam detectors; Rauscher et al.
2007, PASP 119, 768). The same (detector, seed)
gives the same arrays on every run, so the reference files built from them
have stable bytes and the simulator's truth is exactly what the references say.
Values for the reference pixels (the outer 4 rows and columns): no light, no
dark current, flat 1, no bad pixels; bias, gain, read noise and saturation as
for any pixel.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from calpipe.core.models.dqflags import DQ
from calpipe.sim.defects import draw_bad_pixels

from .geometry import AMP_WIDTH, FULL, NAMP, NREF

PIXEL_SIZE_CM = 18e-4  # 18 µm pixels (cosmic-ray rate is per area)
PIXEL_SCALE_ARCSEC = 0.031
FULL_FRAME_TIME = 10.73677  # s
DEFAULT_SEED = 20200101

CDS_NOISE_E = 14.0  # correlated-double-sampling read noise, e-
NOMINAL_GAIN = 2.0  # e-/DN
PHOTMJSR = 0.25  # MJy/sr per DN/s
SATURATION_MARGIN = 500.0  # DN: the well clips this far above the saturation threshold


@dataclass(frozen=True, eq=False)
class DetectorMaps:
    """True properties of one detector (arrays are read-only and shared: copy before editing).

    bias: DN; flat: pixel response (0 for dead pixels); dark: DN/s; gain: e-/DN;
    readnoise: DN rms of one frame; saturation: threshold in DN including the bias
    (what the saturation step compares raw values with); full_well: DN of
    bias-subtracted measured signal at which the well clips (above the threshold
    by SATURATION_MARGIN, so that a saturated pixel reads clearly above the
    threshold despite noise and drifts); beta: 1/DN, measured S = Q - beta Q² for
    linear charge Q in DN; dq: uint32 bad-pixel mask.
    """

    detector: str
    seed: int
    bias: np.ndarray
    flat: np.ndarray
    dark: np.ndarray
    gain: np.ndarray
    readnoise: np.ndarray
    saturation: np.ndarray
    full_well: np.ndarray
    beta: np.ndarray
    dq: np.ndarray
    photmjsr: float = PHOTMJSR
    pixar_sr: float = (PIXEL_SCALE_ARCSEC / 206264.80624709636) ** 2

    @property
    def reference_pixels(self) -> np.ndarray:
        """Boolean full-frame map of the reference-pixel border."""
        return (self.dq & DQ.REFERENCE_PIXEL) != 0


def reference_border(shape: tuple[int, int] = (FULL, FULL)) -> np.ndarray:
    """True on the outer NREF rows and columns of a full frame."""
    border = np.ones(shape, bool)
    border[NREF:-NREF, NREF:-NREF] = False
    return border


def _smooth(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A random, smooth, zero-mean pattern of unit-ish amplitude (a few low-order waves)."""
    out = np.zeros((y.size, x.size), np.float32)
    for _ in range(3):
        kx, ky = rng.uniform(0.3, 1.5, 2)
        px, py = rng.uniform(0, 2 * np.pi, 2)
        out += np.outer(np.cos(np.pi * ky * y + py), np.cos(np.pi * kx * x + px)).astype(np.float32)
    return out / 1.5


@functools.cache
def detector_maps(detector: str = "NRCA1", seed: int = DEFAULT_SEED) -> DetectorMaps:
    """The maps of ``detector`` made from ``seed`` (cached: references and simulator share them)."""
    rng = np.random.default_rng([seed, zlib.crc32(detector.upper().encode())])
    shape = (FULL, FULL)
    u = np.linspace(0.0, 1.0, FULL, dtype=np.float32)  # normalised coordinate, 0..1
    col = np.arange(FULL)
    amp = col // AMP_WIDTH
    parity = col % 2
    border = reference_border()

    def normal(scale: float) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    # Bias: per-amplifier offsets with odd/even differences, a column pattern, a smooth gradient.
    amp_offset = rng.normal(0.0, 600.0, NAMP)
    even_odd = rng.normal(0.0, 15.0, (NAMP, 2))
    columns = (12500.0 + amp_offset[amp] + even_odd[amp, parity] + rng.normal(0.0, 25.0, FULL)
               + 400.0 * (u - 0.5)).astype(np.float32)
    rows = (300.0 * (u - 0.5) ** 2 + rng.normal(0.0, 5.0, FULL)).astype(np.float32)
    bias = normal(40.0)
    bias += columns[None, :]
    bias += rows[:, None]
    np.clip(bias, 10000.0, 15000.0, out=bias)

    # Flat: 2.5 % pixel rms and a ~2 % gradient, mean 1 over the light-sensitive pixels.
    flat = normal(0.025)
    flat += (0.02 * (u[None, :] - 0.5) + 0.01 * (u[:, None] - 0.5)
             + 0.01 * ((u[None, :] - 0.5) ** 2 + (u[:, None] - 0.5) ** 2))
    flat += np.float32(1.0)
    flat /= flat[~border].mean(dtype=np.float64)

    # Gain: ~2 e-/DN, 1 % per-amplifier and 1 % per-pixel differences.
    gain = normal(0.01 * NOMINAL_GAIN)
    gain += (NOMINAL_GAIN * (1.0 + rng.normal(0.0, 0.01, NAMP)))[amp][None, :].astype(np.float32)

    # Read noise of one frame: CDS noise 14 e- means 14/sqrt(2) e- per frame, 5 % pixel scatter.
    readnoise = normal(0.05)
    readnoise += np.float32(1.0)
    readnoise *= np.float32(CDS_NOISE_E / np.sqrt(2.0)) / gain

    # Dark: 0.002-0.03 e-/s (lognormal), converted to DN/s.
    dark_e = np.exp(normal(0.5) + np.float32(np.log(0.008)))
    np.clip(dark_e, 0.002, 0.03, out=dark_e)

    # Saturation threshold 55-63 kDN incl. bias (the well clips SATURATION_MARGIN higher, < 65535).
    saturation = normal(600.0)
    saturation += 59000.0 + 1500.0 * _smooth(rng, u, u)
    np.clip(saturation, 55000.0, 63000.0, out=saturation)

    # Nonlinearity: at the threshold W = saturation - bias the deficit beta*Q is d = 5-6.5 %:
    # Q - beta Q² = W with beta = d(1-d)/W gives Q = W/(1-d) and beta*Q = d. (Up to 6.5 %, not 8 %,
    # so that the series inverse c = [0, 1, beta, 2 beta²] stays within 0.1 % below 90 % of W.)
    well = saturation - bias
    deficit = rng.uniform(0.05, 0.065, shape).astype(np.float32)
    beta = deficit * (1.0 - deficit) / well
    full_well = well + np.float32(SATURATION_MARGIN)

    # Bad pixels (~0.5 %), never in the reference border.
    hot, dead, low_qe = draw_bad_pixels(rng, shape, exclude=border)
    dark_e[hot] = np.clip(np.exp(rng.normal(np.log(5.0), 1.0, int(hot.sum()))), 0.5, 200.0)
    flat[low_qe] *= rng.uniform(0.3, 0.7, int(low_qe.sum())).astype(np.float32)
    flat[dead] = 0.0
    dark_e[dead] = 0.0
    dq = np.zeros(shape, np.uint32)
    dq[hot] = DQ.HOT | DQ.DO_NOT_USE
    dq[dead] = DQ.DEAD | DQ.DO_NOT_USE
    dq[low_qe] = DQ.LOW_QE
    dq[border] = DQ.REFERENCE_PIXEL

    flat[border] = 1.0
    dark_e[border] = 0.0
    dark = dark_e / gain

    arrays = {"bias": bias, "flat": flat, "dark": dark, "gain": gain, "readnoise": readnoise,
              "saturation": saturation, "full_well": full_well, "beta": beta, "dq": dq}
    for name, array in arrays.items():
        if array.dtype != np.uint32:
            array = arrays[name] = array.astype(np.float32, copy=False)
        array.flags.writeable = False
    return DetectorMaps(detector=detector.upper(), seed=seed, **arrays)


def frame_time(nx: int, ny: int) -> float:
    """TFRAME [s] of an nx x ny readout: full-frame time scaled by the pixel count, floor 0.01 s."""
    return max(FULL_FRAME_TIME * nx * ny / FULL**2, 0.01)
