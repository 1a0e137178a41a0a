"""MIPS array facts and the seeded detector model (the simulator and the reference builders share it).

Three arrays (the MIPS Instrument Handbook (IRSA, v3) and Rieke et al. 2004, ApJS 154, 25):

* 24 um, Si:As, 128 x 128, 2.55" pixels, PSF FWHM ~6". Sampled up the ramp every
  half MIPS second (0.524288 s); the slope is fitted on board and downlinked with a
  first-difference plane (second minus first sample) for pixels near saturation.
  Laws of the forward model (all per pixel, rates in DN/s, charge in DN):
    rate r = flat(CSM) x sky / FLUXCONV + dark
    sample i (0-based) at t_i = (i + 1) SAMPTIME after the reset: Q_i = r t_i (+ Poisson, + cosmic-ray charge)
    droop: every pixel reads Q_i + c x mean_array(Q_i) (c is the droop reference), so its rate is
        r' = r + c x mean(r) (cosmic rays' charge included)
    read_i = min(Q_i (1 + alpha Q_i), well) + read noise  (electronic nonlinearity, alpha < 0; the
        saturation reference is "well", in measured DN above the reset level)
    + jailbar: readout channel x mod 4 adds j_c t_i (a rate offset, zero mean over the channels)
    on board: slope = least-squares slope of read_i on t_i [DN/sample], first difference read_1 - read_0.
  A least-squares slope of Q (1 + alpha Q) with Q = r t over samples t_0..t_last is exactly
  r + alpha r^2 (t_0 + t_last); the first difference is r dt + alpha r^2 (t_1^2 - t_0^2), i.e.
  r + alpha r^2 (t_0 + t_1) per second: mips24_linearity inverts both exactly.
  The flat has dust spots of the scan mirror, 15-20 % deep and 3-4 px wide, whose x position
  moves with the scan-mirror position (CSMPOS): the flat reference is a cube, one plane per
  scan-mirror position of the photometry dither pattern.

* 70 um (32 x 32, 9.98") and 160 um (2 x 20, 16"), Ge:Ga photoconductors read up the ramp
  8 times per MIPS second (1.048576 s), exposures of 3, 4 or 10 MIPS seconds:
    rate = G x R(t) x rho(t) x (sky / FLUXCONV [MIU] + stim_on x STIM x P) + dark
        G: pixel gain (the flat), R(t) = R0 (1 + drift t / 1 h) [DN/s per MIU], the responsivity
        that drifts ~10 %/hour; rho(t) = 1 + sum A exp(-(t - t_hit) / tau) after each cosmic-ray
        hit (A 1-5 %, tau ~100 s); STIM x P the stim flash in MIU (P its illumination pattern).
    read_i = bias + Q_i (1 + beta Q_i), Q_i = integrated charge [DN] (+ Poisson, + cosmic-ray
        charge), + read noise, clipped at the raw saturation level, as uint16.
  The BCD pipeline measures G R(t) STIM P with the stim flashes (stim minus background), divides
  by it and multiplies by STIM P (= 1 / illumination reference): G and R(t) cancel.

Every approximate value (~) above is a field below (or reference data built from these maps),
never a constant inside a step.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from calpipe.core.models.dqflags import DQ

MIPS_SECOND = 1.048576  # s
SAMPLES_PER_MIPS_SECOND_24 = 2  # 24 um: 0.524288 s per sample
READS_PER_MIPS_SECOND_GE = 8  # Ge: 0.131072 s per read
EXPOSURES_24 = (3, 10, 30)  # MIPS seconds
EXPOSURES_GE = (3, 4, 10)
DEFAULT_SEED = 24070
ARCSEC_PER_RAD = 180.0 / math.pi * 3600.0
CSM_POSITIONS = (-1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75)  # deg, the 24 um flat planes
SPOT_SHIFT_PX_PER_DEG = 8.0  # a scan-mirror spot moves this many columns per degree of CSM
SLOPE_SCALE, SLOPE_ZERO, DIFF_ZERO = 16.0, 512.0, 512.0  # 24 um downlink words


@dataclass(frozen=True)
class Band:
    band: int
    detector: str
    material: str
    shape: tuple[int, int]  # (ny, nx)
    pixel_scale_arcsec: float
    psf_fwhm_arcsec: float
    gain: float  # e-/DN
    readnoise_e: float  # one sample
    fluxconv: float  # 24: MJy/sr per DN/s; Ge: MJy/sr per MIU
    sky_mjysr: float  # default background
    cr_median_e: float  # lognormal median charge of a cosmic ray
    responsivity: float = 0.0  # Ge: R0 [DN/s per MIU]
    stim_miu: float = 0.0  # Ge: stim flash brightness [MIU] (times the pattern P)
    well_dn: float = 0.0  # 24: saturation in measured DN above the reset; Ge: raw DN incl. bias

    @property
    def is_ge(self) -> bool:
        return self.band != 24

    @property
    def pixar_sr(self) -> float:
        return (self.pixel_scale_arcsec / ARCSEC_PER_RAD) ** 2

    @property
    def psf_sigma_px(self) -> float:
        return self.psf_fwhm_arcsec / (2.0 * math.sqrt(2.0 * math.log(2.0))) / self.pixel_scale_arcsec

    @property
    def crpix(self) -> tuple[float, float]:
        """1-based reference pixel at the array centre (x, y)."""
        return ((self.shape[1] + 1) / 2.0, (self.shape[0] + 1) / 2.0)

    @property
    def sample_time(self) -> float:
        per = READS_PER_MIPS_SECOND_GE if self.is_ge else SAMPLES_PER_MIPS_SECOND_24
        return MIPS_SECOND / per

    @property
    def exposures(self) -> tuple[int, ...]:
        return EXPOSURES_GE if self.is_ge else EXPOSURES_24

    def nreads(self, mips_seconds: int) -> int:
        per = READS_PER_MIPS_SECOND_GE if self.is_ge else SAMPLES_PER_MIPS_SECOND_24
        return int(mips_seconds) * per

    @property
    def read_sigma_dn(self) -> float:
        return self.readnoise_e / self.gain


BANDS: dict[int, Band] = {
    24: Band(24, "MIPS24", "Si:As", (128, 128), 2.55, 6.0, gain=5.0, readnoise_e=40.0, fluxconv=0.0454,
             sky_mjysr=20.0, cr_median_e=6000.0, well_dn=32000.0),
    70: Band(70, "MIPS70", "Ge:Ga", (32, 32), 9.98, 18.0, gain=5.0, readnoise_e=100.0, fluxconv=702.0,
             sky_mjysr=8.0, cr_median_e=2000.0, responsivity=15000.0, stim_miu=0.12, well_dn=60000.0),
    160: Band(160, "MIPS160", "Ge:Ga (stressed)", (2, 20), 16.0, 40.0, gain=5.0, readnoise_e=100.0,
              fluxconv=41.7, sky_mjysr=15.0, cr_median_e=2000.0, responsivity=550.0, stim_miu=3.6,
              well_dn=60000.0),
}


def band(value) -> Band:
    """Band 24, 70 or 160 (int or text); ValueError naming the allowed ones."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number not in BANDS:
        raise ValueError(f"band must be 24, 70 or 160, got {value!r}")
    return BANDS[number]


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], rms: float,
                  gradient: float) -> np.ndarray:
    """1 + a linear gradient (peak to peak ``gradient``) + pixel noise (``rms``)."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    angle = rng.uniform(0, 2 * np.pi)
    u = (np.cos(angle) * (x - (nx - 1) / 2) / max(nx, 2) + np.sin(angle) * (y - (ny - 1) / 2) / max(ny, 2))
    return 1.0 + gradient * u + rms * rng.standard_normal(shape)


@dataclass(frozen=True)
class Maps24:
    seed: int
    flat_pixel: np.ndarray  # pixel response without the scan-mirror spots
    spots: np.ndarray  # (nspot, 4): x at CSM 0, y, depth, sigma [px]
    dark: np.ndarray  # DN/s
    alpha: np.ndarray  # 1/DN (negative)
    droop: np.ndarray  # c
    well: np.ndarray  # measured DN above the reset
    dq: np.ndarray

    def spot_pattern(self, csm: float) -> np.ndarray:
        ny, nx = self.flat_pixel.shape
        y, x = np.mgrid[0:ny, 0:nx]
        pattern = np.ones((ny, nx))
        for x0, y0, depth, sigma in self.spots:
            xc = x0 + SPOT_SHIFT_PX_PER_DEG * csm
            pattern *= 1.0 - depth * np.exp(-((x - xc) ** 2 + (y - y0) ** 2) / (2.0 * sigma**2))
        return pattern

    def flat(self, csm: float) -> np.ndarray:
        """The flat at one scan-mirror position (float32; 0 where the pixel is dead)."""
        return (self.flat_pixel * self.spot_pattern(csm)).astype(np.float32)

    def flat_cube(self) -> np.ndarray:
        return np.stack([self.flat(p) for p in CSM_POSITIONS]).astype(np.float32)


@dataclass(frozen=True)
class MapsGe:
    seed: int
    band: int
    gain_map: np.ndarray  # G: relative pixel response
    stim_pattern: np.ndarray  # P: stim illumination pattern (mean 1)
    bias: np.ndarray  # DN
    dark: np.ndarray  # DN/s
    beta: np.ndarray  # 1/DN (negative)
    saturation: np.ndarray  # raw DN, bias included
    dq: np.ndarray

    def illumination(self, stim_miu: float) -> np.ndarray:
        """Illumination correction 1 / (STIM x P) [1/MIU]: C = (slope - dark) / (stim response x illum)."""
        return (1.0 / (stim_miu * self.stim_pattern)).astype(np.float32)

    def linearity_coeffs(self, degree: int = 6) -> np.ndarray:
        """(degree + 1, ny, nx) coefficients of Q = sum c_k F^k, the inverse of F = Q (1 + beta Q).

        The series is Q = sum_k Catalan(k) (-beta)^k F^(k+1); to degree 6 its error is below
        0.3 DN at F = 50000 DN for |beta| <= 1.2e-6.
        """
        beta = self.beta.astype(np.float64)
        coeffs = np.zeros((degree + 1, *beta.shape))
        for k in range(degree):
            catalan = math.comb(2 * k, k) // (k + 1)
            coeffs[k + 1] = catalan * (-beta) ** k
        return coeffs.astype(np.float32)


@functools.cache
def maps24(seed: int = DEFAULT_SEED) -> Maps24:
    b = BANDS[24]
    rng = np.random.default_rng([seed, 24])
    shape = b.shape
    flat = _smooth_field(rng, shape, 0.025, 0.03)
    nspot = 5
    spots = np.column_stack([rng.uniform(20, 108, nspot), rng.uniform(10, 118, nspot),
                             rng.uniform(0.15, 0.20, nspot), rng.uniform(1.3, 1.7, nspot)])
    dark = (2.0 + 0.3 * rng.standard_normal(shape)).astype(np.float32)
    alpha = (-2.0e-6 * (1.0 + 0.1 * rng.standard_normal(shape))).astype(np.float32)
    droop = (0.33 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
    well = (b.well_dn * (1.0 + 0.02 * rng.standard_normal(shape))).astype(np.float32)
    dq = np.zeros(shape, np.uint32)
    bad = rng.choice(shape[0] * shape[1], 30, replace=False)
    dq.flat[bad[:20]] = DQ.DEAD | DQ.DO_NOT_USE
    dq.flat[bad[20:]] = DQ.HOT | DQ.DO_NOT_USE
    flat[(dq & DQ.DEAD) != 0] = 0.0
    dark[(dq & DQ.HOT) != 0] += 200.0
    for a in (flat, dark, alpha, droop, well, dq):
        a.setflags(write=False)
    return Maps24(seed, flat.astype(np.float32), spots, dark, alpha, droop, well, dq)


@functools.cache
def maps_ge(number: int, seed: int = DEFAULT_SEED) -> MapsGe:
    b = BANDS[number]
    rng = np.random.default_rng([seed, number])
    shape = b.shape
    gain_map = _smooth_field(rng, shape, 0.05, 0.05)
    pattern = _smooth_field(rng, shape, 0.0, 0.3)
    pattern /= pattern.mean()
    bias = (3000.0 + 200.0 * rng.standard_normal(shape)).astype(np.float32)
    dark = (5.0 + 0.5 * rng.standard_normal(shape)).astype(np.float32)
    beta = (-1.0e-6 * (1.0 + 0.1 * rng.standard_normal(shape))).astype(np.float32)
    saturation = np.full(shape, b.well_dn, np.float32)
    dq = np.zeros(shape, np.uint32)
    n = shape[0] * shape[1]
    ndead = max(1, n // 200)
    dead = rng.choice(n, ndead, replace=False)
    dq.flat[dead] = DQ.DEAD | DQ.DO_NOT_USE
    gain_map[(dq & DQ.DEAD) != 0] = 0.0
    arrays = (gain_map.astype(np.float32), pattern.astype(np.float32), bias, dark, beta, saturation, dq)
    for a in arrays:
        a.setflags(write=False)
    return MapsGe(seed, number, *arrays)


def slope_sigma_read(nreads: int, dt: float, read_sigma_dn: float) -> float:
    """Read-noise sigma of an unweighted least-squares slope [DN/s]: sqrt(12 s^2 / (n (n^2 - 1))) / dt."""
    n = nreads
    return math.sqrt(12.0 * read_sigma_dn**2 / (n * (n * n - 1.0))) / dt

