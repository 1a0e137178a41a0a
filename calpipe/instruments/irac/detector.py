"""The true IRAC detectors of the simulation, and the laws of the forward model they obey.

One seeded model is shared by the reference builders (refs.py) and the
simulator (simulate.py), so the references are exactly the truth. Every map is
256 x 256 (float32 unless said otherwise), read-only and cached. Figures follow
the IRAC Instrument Handbook (IRSA, v2.1); everything marked "choice" below is
this simulation's own convention, recorded in each truth file's parameters.

Geometry and readout order
    Arrays are indexed [y, x] (row, column), row 0 first. The four readout
    channels ("outputs") read the columns x with x mod 4 = 0, 1, 2, 3. Each
    output reads its pixels in *readout order*: row by row from row 0, within a
    row from column c to c + 252 in steps of 4, so pixel (y, x) is the
    L = 64 y + x // 4 th pixel read by output x mod 4 (choice). Pixels are
    30 µm (cosmic-ray rate per area) and 1.22" on the sky.

Fowler sampling (per frame; Readout)
    Reset at t = 0; N pedestal reads at t = TICK k (k = 1..N, TICK = 0.2 s);
    wait; N signal reads at t = TICK (N + W + k). Signal read k minus pedestal
    read k spans TICK (N + W) = EXPTIME; the last read is at
    TICK (2N + W) = FRAMTIME. Table FOWLER (frame time -> (N, W)) gives the
    Spitzer values: 0.6 s (1, 1), 2 s (4, 2), 12 s (8, 44), 30 s (16, 118),
    100 s (32, 436).

Charge and nonlinearity
    Charge Q [DN] accumulates from the reset (Poisson in electrons, / GAIN);
    each read measures f(Q) = Q (1 + alpha Q) (alpha < 0, per pixel: ~ -2e-6
    /DN InSb, ~ -6e-7 /DN Si:As), clipped at the full well ``saturation``
    [DN, measured scale] (Q itself stops where f reaches the well, below the
    turnover of the quadratic), then read noise is added and the read is
    rounded to an integer (reads are relative to the reset level, which
    cancels in the difference). Dark current is charge like any other (the
    dark reference's dark current x EXPTIME is its linear value: the error,
    2 alpha Q_sky Q_dark, is < 1e-4 of the signal for good pixels). Without
    saturation the normalised Fowler difference is

        M = (1/N) sum_k [f(r ts_k) - f(r tp_k)] = r Te + alpha r² Te T_lin,
        T_lin = Te + TICK (N + 1)                        (Readout.nonlinearity_time)

    i.e. with L = r Te the linear DN per frame, M = L + alpha (T_lin / Te) L²
    (fowler_nonlinear); fowler_linearize is its exact inverse. That is the
    "Fowler-aware" quadratic correction the linearity reference's alpha is for.

Saturation (double-valued)
    A read's f(Q) clips at the well. Once the signal reads clip, D = N well -
    sum f(Q_pedestal) *falls* as the flux grows (the pedestal reads keep
    rising), down to 0 when the pedestal reads clip too: a very bright pixel
    reads faint. A pixel is on this falling branch when dD/dr < 0 (the
    simulator's truth ``saturated_fallback``).

On-board arithmetic and downlink (encode / decode)
    D = sum(signal reads) - sum(pedestal reads) + N E, where E [DN per frame]
    is the sum of the electronic offsets below; then the barrel shift
    V = floor(D / 2^B) with B = ABARREL = ceil(log2 N) (so V fits 16 bits),
    kept modulo 2^16 (a negative D wraps to ~65535). Downlinked raw = 65535 - V
    for InSb (channels 1-2, the sign convention), raw = V for Si:As (3-4).
    The pipeline's DN per frame is V 2^B / N (Fowler normalisation; = V for
    the power-of-two N of FOWLER) plus the truncation bias (2^B - 1) / (2 N)
    (the mean of the bits shifted out); V >= WRAP_THRESHOLD means V - 65536.

Electronic offsets E [DN per frame, added to the normalised difference]
    dark pattern     FrameTimeMaps.dark_offset, a fixed pattern per frame time
                     (the dark reference = dark current x EXPTIME + this)
    first frame      a + b log10(FRAMEDLY / 1 s), a, b per pixel and frame time
                     (FrameTimeMaps.firstframe_a/_b; b < 0: the longer the delay
                     since the previous frame, the lower the frame)
    muxbleed         InSb only: after every pixel with M > MUXBLEED_THRESHOLD_DN,
                     the n-th pixel read after it by the same output (n >= 1, to the
                     end of the frame) gets I(n) M / MUXBLEED_REF_DN with
                     log10 I = 3.188 - 2.497 x + 1.201 x² - 0.244 x³, x = log10(n + 1);
                     contributions of several bright pixels add (muxbleed_image)
    column pulldown  a column holding a pixel with M > PULLDOWN_THRESHOLD_DN is
                     lowered by PULLDOWN_DN[channel] at every row read after the first
                     such pixel (rows y > y_first: below it when row 0 is drawn at the
                     top); once per column, not per bright pixel (pulldown_image)
    jailbar          if any pixel has M > JAILBAR_THRESHOLD_DN, output c gets
                     JAILBAR_DN[channel] (v_c - mean v), v ~ N(0, 1) per frame: offsets
                     of the columns x mod 4 = c, zero mean over the 4 outputs (jailbar)
    M here is the pixel's normalised Fowler difference from its charge alone
    (nonlinear, saturated, with cosmic rays and read noise; before the offsets).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from calpipe.core.models.dqflags import DQ
from calpipe.sim.defects import draw_bad_pixels

NPIX = 256  # pixels per side
NOUTPUTS = 4  # readout channels (outputs), each reading every 4th column
PER_ROW = NPIX // NOUTPUTS  # pixels of one row read by one output
TICK = 0.2  # s: clock of the Fowler sequence
PIXEL_SCALE_ARCSEC = 1.22
PIXEL_SIZE_CM = 30e-4  # 30 µm pixels
PIXAR_SR = (PIXEL_SCALE_ARCSEC / 206264.80624709636) ** 2
CRPIX = (128.5, 128.5)  # 1-based pixel where RA_REF/DEC_REF point (the array centre)
DEFAULT_SEED = 20030825  # Spitzer's launch date
ADC_MODULUS = 65536
WRAP_THRESHOLD = 60000  # on-board V at or above this is a wrapped negative difference

# frame time [s] -> (Fowler number N, wait period W [ticks]): FRAMTIME = 0.2 (W + 2N), EXPTIME = 0.2 (W + N)
FOWLER: dict[float, tuple[int, int]] = {0.6: (1, 1), 2.0: (4, 2), 12.0: (8, 44), 30.0: (16, 118),
                                        100.0: (32, 436)}
FRAME_TIMES = tuple(FOWLER)

MUXBLEED_COEFFS = (3.188, -2.497, 1.201, -0.244)  # log10 I [DN] as a cubic in x = log10(n + 1)
MUXBLEED_THRESHOLD_DN = 1.0e4  # a pixel above this (DN per frame) bleeds
MUXBLEED_REF_DN = 4.0e4  # the law is the trail of a pixel at this DN per frame; it scales linearly
PULLDOWN_THRESHOLD_DN = 3.0e4
PULLDOWN_DN = {1: 5.0, 2: 4.0, 3: 0.0, 4: 0.0}  # InSb only (Si:As shows no pulldown in this model)
JAILBAR_THRESHOLD_DN = 1.0e4
JAILBAR_DN = {1: 2.0, 2: 2.0, 3: 3.0, 4: 3.0}
FRAME_TIME_SCALE = {0.6: 0.5, 2.0: 0.7, 12.0: 1.0, 30.0: 1.3, 100.0: 1.8}  # dark pattern and first frame


@dataclass(frozen=True)
class Channel:
    """Fixed properties of one IRAC channel (scalars; the maps are in DetectorMaps)."""

    number: int
    material: str  # "InSb" or "Si:As"
    wavelength_um: float
    gain: float  # e-/DN
    fluxconv: float  # MJy/sr per DN/s
    psf_fwhm_arcsec: float
    well_dn: float  # nominal full well, measured DN of one read
    alpha: float  # nominal nonlinearity, 1/DN
    dark_e: float  # nominal dark current, e-/s
    readnoise_e: dict[float, float]  # Fowler read noise of one frame [e-] (of D/N) per frame time
    sky_mjysr: float  # default zodiacal background
    cr_median_e: float  # cosmic-ray charge, lognormal median
    cr_sigma_px: float  # Gaussian footprint width
    firstframe_ab: tuple[float, float]  # nominal a [DN], b [DN per decade of delay] at 12 s

    @property
    def detector(self) -> str:
        return f"CH{self.number}"

    @property
    def inverted(self) -> bool:
        """InSb channels downlink 65535 - V."""
        return self.material == "InSb"

    @property
    def muxbleed(self) -> bool:
        return self.material == "InSb"

    @property
    def psf_sigma_px(self) -> float:
        return self.psf_fwhm_arcsec / (2.0 * math.sqrt(2.0 * math.log(2.0))) / PIXEL_SCALE_ARCSEC


_INSB_RN = {0.6: 22.0, 2.0: 16.0, 12.0: 12.0, 30.0: 10.0, 100.0: 8.0}
_SIAS_RN = {0.6: 10.0, 2.0: 9.5, 12.0: 9.0, 30.0: 9.0, 100.0: 9.0}
CHANNELS: dict[int, Channel] = {
    1: Channel(1, "InSb", 3.6, 3.3, 0.1069, 1.66, 44000.0, -2.0e-6, 0.05, _INSB_RN, 0.2, 3000.0, 0.4,
               (1.0, -2.0)),
    2: Channel(2, "InSb", 4.5, 3.7, 0.1382, 1.72, 44000.0, -2.0e-6, 0.28, _INSB_RN, 0.5, 3000.0, 0.4,
               (1.0, -2.0)),
    3: Channel(3, "Si:As", 5.8, 3.8, 0.5858, 1.88, 55000.0, -6.0e-7, 1.0, _SIAS_RN, 2.5, 8000.0, 0.9,
               (1.5, -3.0)),
    4: Channel(4, "Si:As", 8.0, 3.8, 0.2026, 1.98, 55000.0, -6.0e-7, 3.8, _SIAS_RN, 8.0, 8000.0, 0.9,
               (1.5, -3.0)),
}


def channel(number: int | str) -> Channel:
    """The Channel of 1..4 (or "CH1".."CH4")."""
    text = str(number).upper().removeprefix("CH")
    if not text.isdigit() or int(text) not in CHANNELS:
        raise ValueError(f"channel must be 1, 2, 3 or 4, got '{number}'")
    return CHANNELS[int(text)]


@dataclass(frozen=True)
class Readout:
    """Fowler timing of one frame time (see the module docstring)."""

    frame_time: float  # FRAMTIME [s]
    fowler: int  # N (AFOWLNUM)
    wait: int  # W [ticks] (AWAITPER)

    @property
    def exposure_time(self) -> float:
        """EXPTIME = 0.2 (W + N): signal read k minus pedestal read k."""
        return round(TICK * (self.wait + self.fowler), 6)

    @property
    def barrel(self) -> int:
        """ABARREL = ceil(log2 N): the shift that keeps N full wells within 16 bits."""
        return max(0, math.ceil(math.log2(self.fowler)))

    @property
    def pedestal_times(self) -> np.ndarray:
        return TICK * np.arange(1, self.fowler + 1)

    @property
    def signal_times(self) -> np.ndarray:
        return TICK * np.arange(self.fowler + self.wait + 1, 2 * self.fowler + self.wait + 1)

    @property
    def nonlinearity_time(self) -> float:
        """T_lin = Te + TICK (N + 1): M = r Te + alpha r² Te T_lin."""
        return self.exposure_time + TICK * (self.fowler + 1)

    @property
    def normalisation(self) -> float:
        """DN per frame per unit of the downlinked V: 2^B / N."""
        return 2.0**self.barrel / self.fowler

    @property
    def truncation_bias(self) -> float:
        """Mean DN per frame lost by the barrel shift's truncation: (2^B - 1) / (2 N)."""
        return (2.0**self.barrel - 1.0) / (2.0 * self.fowler)


def readout(frame_time: float | str) -> Readout:
    """The Readout of a supported frame time (0.6, 2, 12, 30 or 100 s)."""
    try:
        value = float(frame_time)
    except (TypeError, ValueError):
        value = math.nan
    for ft, (n, w) in FOWLER.items():
        if abs(value - ft) < 1e-6:
            return Readout(ft, n, w)
    raise ValueError(f"frame time must be one of {', '.join(f'{t:g}' for t in FOWLER)} s, got '{frame_time}'")


# -- the laws (pure functions: what a correcting step must invert) -------------------------------------
def fowler_nonlinear(linear_dn: np.ndarray | float, alpha: np.ndarray | float, ro: Readout):
    """Normalised Fowler difference M of a pixel whose linear DN per frame is L = r Te (below saturation)."""
    return linear_dn + alpha * (ro.nonlinearity_time / ro.exposure_time) * np.square(linear_dn)


def fowler_linearize(measured_dn: np.ndarray | float, alpha: np.ndarray | float, ro: Readout):
    """Exact inverse of fowler_nonlinear: L = 2 M / (1 + sqrt(1 + 4 alpha (T_lin / Te) M))."""
    k = alpha * (ro.nonlinearity_time / ro.exposure_time)
    return 2.0 * measured_dn / (1.0 + np.sqrt(1.0 + 4.0 * k * measured_dn))


def muxbleed_law(n: np.ndarray | float) -> np.ndarray:
    """Trail I(n) [DN] n pixels (n >= 1, readout order of one output) after a MUXBLEED_REF_DN pixel."""
    x = np.log10(np.asarray(n, dtype=np.float64) + 1.0)
    c0, c1, c2, c3 = MUXBLEED_COEFFS
    return 10.0 ** (c0 + x * (c1 + x * (c2 + x * c3)))


def readout_sequence(image: np.ndarray, output: int) -> np.ndarray:
    """Pixels of one output in readout order (a view: row-major over the columns x = output + 4k)."""
    return image[:, output::NOUTPUTS].reshape(-1)


@functools.cache
def _muxbleed_kernel() -> np.ndarray:
    kernel = muxbleed_law(np.arange(NPIX * PER_ROW))
    kernel[0] = 0.0  # the bright pixel itself is not changed
    return kernel


def muxbleed_image(dn: np.ndarray, threshold: float = MUXBLEED_THRESHOLD_DN,
                   ref_dn: float = MUXBLEED_REF_DN) -> np.ndarray:
    """Muxbleed [DN per frame] of the pixels above ``threshold`` in ``dn`` (DN per frame), float64."""
    kernel = _muxbleed_kernel()
    out = np.zeros(dn.shape)
    for c in range(NOUTPUTS):
        seq = readout_sequence(dn, c)
        trail = np.zeros(seq.size)
        for i in np.flatnonzero(seq > threshold):
            trail[i:] += (seq[i] / ref_dn) * kernel[: seq.size - i]
        out[:, c::NOUTPUTS] = trail.reshape(NPIX, PER_ROW)
    return out


def pulldown_image(dn: np.ndarray, amplitude: float, threshold: float = PULLDOWN_THRESHOLD_DN) -> np.ndarray:
    """Column pulldown [DN per frame]: -amplitude on rows after a column's first pixel above ``threshold``."""
    out = np.zeros(dn.shape)
    if amplitude == 0:
        return out
    bright = dn > threshold
    hit = bright.any(axis=0)
    first = np.argmax(bright, axis=0)
    rows = np.arange(dn.shape[0])[:, None]
    out[(rows > first[None, :]) & hit[None, :]] = -amplitude
    return out


def jailbar(dn: np.ndarray, amplitude: float, draw: np.ndarray,
            threshold: float = JAILBAR_THRESHOLD_DN) -> np.ndarray:
    """Offsets [DN per frame] of the 4 outputs: amplitude (v - mean v) if a pixel is above threshold."""
    if amplitude == 0 or not (dn > threshold).any():
        return np.zeros(NOUTPUTS)
    draw = np.asarray(draw, dtype=np.float64)
    return amplitude * (draw - draw.mean())


def encode(difference: np.ndarray, ro: Readout, ch: Channel) -> np.ndarray:
    """Downlinked uint16 from the Fowler difference D (sum over reads, offsets included)."""
    v = np.floor(np.asarray(difference, dtype=np.float64) / 2.0**ro.barrel).astype(np.int64) % ADC_MODULUS
    if ch.inverted:
        v = (ADC_MODULUS - 1) - v
    return v.astype(np.uint16)


def decode(raw: np.ndarray, ro: Readout, ch: Channel) -> np.ndarray:
    """DN per frame (float64) from a downlinked frame: sign flip, wrap fix, 2^B / N, truncation bias."""
    v = np.asarray(raw, dtype=np.int64)
    if ch.inverted:
        v = (ADC_MODULUS - 1) - v
    v = np.where(v >= WRAP_THRESHOLD, v - ADC_MODULUS, v)
    return v * ro.normalisation + ro.truncation_bias


# -- the seeded maps -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DetectorMaps:
    """True maps of one channel, independent of frame time (read-only, shared: copy before editing).

    flat: pixel response, mean 1 over good pixels (0 for dead pixels); dark_current:
    DN/s; saturation: full well [DN, measured scale of one read]; alpha: 1/DN of
    f(Q) = Q (1 + alpha Q); dq: uint32 bad-pixel mask (HOT|DO_NOT_USE, DEAD|DO_NOT_USE, LOW_QE).
    """

    channel: Channel
    seed: int
    flat: np.ndarray
    dark_current: np.ndarray
    saturation: np.ndarray
    alpha: np.ndarray
    dq: np.ndarray

    @property
    def detector(self) -> str:
        return self.channel.detector

    @property
    def gain(self) -> float:
        return self.channel.gain

    @property
    def fluxconv(self) -> float:
        return self.channel.fluxconv

    def readnoise_e(self, frame_time: float) -> float:
        """RONOISE [e-]: rms of the normalised Fowler difference of one frame."""
        return self.channel.readnoise_e[readout(frame_time).frame_time]

    def dark(self, frame_time: float) -> np.ndarray:
        """The dark reference [DN per frame]: dark current x EXPTIME + the frame time's electronic pattern."""
        ro = readout(frame_time)
        out = (self.dark_current * np.float32(ro.exposure_time)).astype(np.float32)
        out += frame_time_maps(self.channel.number, ro.frame_time, self.seed).dark_offset
        return out


@dataclass(frozen=True, eq=False)
class FrameTimeMaps:
    """Electronic maps of one channel at one frame time [DN per frame], read-only."""

    dark_offset: np.ndarray
    firstframe_a: np.ndarray
    firstframe_b: np.ndarray

    def firstframe(self, delay_s: float) -> np.ndarray:
        """First-frame offset a + b log10(delay / 1 s) (delay: FRAMEDLY, at least 0.1 s)."""
        return self.firstframe_a + self.firstframe_b * np.float32(math.log10(max(delay_s, 0.1)))


def _smooth(rng: np.random.Generator) -> np.ndarray:
    """A random, smooth, zero-mean pattern of order-unity amplitude (three low-order waves)."""
    u = np.linspace(0.0, 1.0, NPIX)
    out = np.zeros((NPIX, NPIX))
    for _ in range(3):
        kx, ky = rng.uniform(0.3, 1.5, 2)
        px, py = rng.uniform(0, 2 * np.pi, 2)
        out += np.outer(np.cos(np.pi * ky * u + py), np.cos(np.pi * kx * u + px))
    return (out / 1.5).astype(np.float32)


def _readonly(**arrays: np.ndarray) -> dict[str, np.ndarray]:
    for name, array in arrays.items():
        if array.dtype != np.uint32:
            array = arrays[name] = array.astype(np.float32, copy=False)
        array.flags.writeable = False
    return arrays


@functools.cache
def detector_maps(number: int = 1, seed: int = DEFAULT_SEED) -> DetectorMaps:
    """The maps of channel ``number`` made from ``seed`` (cached: references and simulator share them).

    flat: 2 % pixel rms, ~1.5 % gradient and a smooth ~1 % pattern; saturation:
    nominal well x (1 + 2 % smooth) + 0.5 % pixel scatter; alpha: nominal x (1 +
    5 % smooth + 3 % pixel); dark current: nominal e-/s x lognormal(0.3), / GAIN.
    Bad pixels: 0.2 % hot (dark x 20-500), 0.1 % dead (flat 0, no dark), 0.2 %
    low QE (flat x 0.3-0.7).
    """
    ch = channel(number)
    rng = np.random.default_rng([seed, ch.number])
    shape = (NPIX, NPIX)
    u = np.linspace(-0.5, 0.5, NPIX, dtype=np.float32)

    def normal(scale: float) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)

    flat = normal(0.02)
    flat += 0.015 * u[None, :] + 0.008 * u[:, None] + 0.01 * _smooth(rng) + np.float32(1.0)
    saturation = ch.well_dn * (1.0 + 0.02 * _smooth(rng)) + normal(0.005 * ch.well_dn)
    alpha = ch.alpha * (1.0 + 0.05 * _smooth(rng) + normal(0.03))
    dark_e = ch.dark_e * np.exp(normal(0.3))

    hot, dead, low_qe = draw_bad_pixels(rng, shape)
    dark_e[hot] *= (10.0 ** rng.uniform(np.log10(20.0), np.log10(500.0), int(hot.sum()))).astype(np.float32)
    flat[low_qe] *= rng.uniform(0.3, 0.7, int(low_qe.sum())).astype(np.float32)
    flat /= flat[~(hot | dead | low_qe)].mean(dtype=np.float64)
    flat[dead] = 0.0
    dark_e[dead] = 0.0
    dq = np.zeros(shape, np.uint32)
    dq[hot] = DQ.HOT | DQ.DO_NOT_USE
    dq[dead] = DQ.DEAD | DQ.DO_NOT_USE
    dq[low_qe] = DQ.LOW_QE
    arrays = _readonly(flat=flat, dark_current=dark_e / np.float32(ch.gain), saturation=saturation,
                       alpha=alpha, dq=dq)
    return DetectorMaps(channel=ch, seed=seed, **arrays)


@functools.cache
def frame_time_maps(number: int, frame_time: float, seed: int = DEFAULT_SEED) -> FrameTimeMaps:
    """Electronic maps of channel ``number`` at ``frame_time`` (own seed stream per frame time).

    With s = FRAME_TIME_SCALE[frame time] and (a0, b0) = Channel.firstframe_ab:
    dark_offset = 2 s (0.5 smooth + per-column N(0, 0.3) + per-output N(0, 0.3) + per-pixel N(0, 0.3));
    firstframe_a = a0 s (1 + 0.3 smooth) + N(0, 0.05 |a0| s);
    firstframe_b = b0 s (1 + 0.2 smooth + per-column N(0, 0.1)).
    """
    ch = channel(number)
    ft = readout(frame_time).frame_time
    rng = np.random.default_rng([seed, ch.number, round(ft * 10)])
    s = FRAME_TIME_SCALE[ft]
    shape = (NPIX, NPIX)
    columns = rng.normal(0.0, 0.3, NPIX).astype(np.float32)
    outputs = rng.normal(0.0, 0.3, NOUTPUTS).astype(np.float32)[np.arange(NPIX) % NOUTPUTS]
    dark_offset = 2.0 * s * (0.5 * _smooth(rng) + columns[None, :] + outputs[None, :]
                             + rng.normal(0.0, 0.3, shape).astype(np.float32))
    a0, b0 = ch.firstframe_ab
    firstframe_a = a0 * s * (1.0 + 0.3 * _smooth(rng)) + rng.normal(0.0, 0.05 * abs(a0) * s, shape)
    column_b = rng.normal(0.0, 0.1, NPIX).astype(np.float32)
    firstframe_b = b0 * s * (1.0 + 0.2 * _smooth(rng) + column_b[None, :])
    arrays = _readonly(dark_offset=dark_offset, firstframe_a=firstframe_a, firstframe_b=firstframe_b)
    return FrameTimeMaps(**arrays)
