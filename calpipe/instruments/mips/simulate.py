"""MIPS simulator: the dithered raw DCEs of one AOR in one band, each with its truth.

`simulate(out_dir, band=24|70|160, nexp=N, seed=S)`. The laws are in detector.py; the sky
(sources with RA/Dec and a flux in every band, from the seed alone) in sky.py, so AORs of
the three bands simulated with one seed see the same sources.

24 um (Si:As, on-board slopes), per DCE k:
    sky [MJy/sr] -> rate0 = sky / FLUXCONV x flat(CSM) + dark [DN/s]
    -> sample i at t_i = (i + 1) SAMPTIME: Q_i = Poisson charge (x GAIN electrons) + cosmic rays
    -> droop: Q_i + c x mean over the array of Q_i (the whole charge, cosmic rays included)
    -> read_i = rint(min(Q_i (1 + alpha Q_i), well) + j_(x mod 4) t_i + read noise)  (jailbar j_c)
    -> slope words = rint(SLPSCALE x least-squares slope [DN/sample]) + SLPZERO,
       difference words = read_1 - read_0 + DIFZERO: uint16 (2, 128, 128).
  Cosmic rays: Poisson in time and area (CR_RATE hits cm^-2 s^-1, 75 um pixels), lognormal
  charge (median 6000 e-), 80 % in the hit pixel, 4 % in each side and 1 % in each corner
  neighbour (Si:As footprints ~6 px above a few e-); their exact contribution to the on-board
  slope (a step at t_hit in a least-squares fit) is in the truth (cr_rate, cr_bcd).
  CSMPOS cycles through the scan-mirror positions of the flat cube (detector.CSM_POSITIONS).

70/160 um (Ge:Ga, sample-up-the-ramp), the AOR's data stream of DCEs in time order:
    [BKGD, STIM, BKGD], stim_period science DCEs, [BKGD, STIM, BKGD], ..., ending with a stim cycle,
  every DCE nreads = 8 x MIPSSEC reads; a stim cycle looks at the pointing of the science DCE after
  it (the last cycle at the last one). Per read interval (mid-time t since the AOR start):
    rate = G x R(t) x rho(t) x (sky / FLUXCONV + stim_on x STIM x P) + dark [DN/s]
        R(t) = R0 (1 + drift_per_hour x t / 3600 h), rho = 1 + sum A exp(-(t - t_hit) / bump_tau)
    -> Q_i = Poisson charge + cosmic-ray charge (from t_hit on)
    -> read_i = min(rint(bias + Q_i (1 + beta Q_i) + read noise), saturation) as uint16.
  Cosmic rays: Poisson in time, cr_rate hits per pixel per second (INSTRUMENTS.md: up to ~1 per
  35 s), lognormal charge (median 2000 e-), one pixel each; every hit also raises that pixel's
  responsivity by A ~ U(bump) decaying with bump_tau (~100 s). Each science DCE is written with
  the raw ramps of the stim cycles before and after it (STIMRAMP), their mid-times relative to
  its DATE-OBS (STIMTIME) and DCENUMs (STIMDCE): the pipeline measures R(t) from them.

Files: SPITZER_M<1|2|3>_<AORKEY>_<EXPID:04>_<DCENUM:04>_0000_raw.fits and ..._truth.asdf beside it.
Truth (ASDF tree): sky and bcd [MJy/sr] (what the BCD should be), sources (this DCE's, with
RA/Dec and flux [mJy]) and aor_sources (the whole field, fluxes in all bands), the cosmic rays,
the instrument effects injected (droop, jailbar, flat, responsivity, bumps) and parameters.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from calpipe.core.io import write_atomic, write_tree_atomic

from . import detector as det
from . import sky as skymod
from .detector import Band

CR_RATE = 4.0  # 24 um: hits / cm^2 / s
PIXEL_CM_24 = 75e-4
CR_SIGMA_LN = 0.8
CR_KERNEL = np.array([[0.01, 0.04, 0.01], [0.04, 0.80, 0.04], [0.01, 0.04, 0.01]])  # 24 um footprint
GE_CR_RATE = 0.01  # hits / pixel / s
GE_BUMP = (0.01, 0.05)
GE_BUMP_TAU = 100.0  # s
DRIFT_PER_HOUR = 0.10
STIM_PERIOD = 4  # science DCEs between stim cycles
DITHER_ARCSEC = 30.0
OVERHEAD_S = 1.0  # reset and readout between DCEs
SLEW_S = (3.0, 6.0)  # dither slews
JAILBAR_DN_S = 1.5  # 24 um: rms offset of a readout channel [DN/s]
DEFAULT_DATE = "2006-06-01T00:00:00.000"
DEFAULT_AORKEY = 23456789
FILE_TAG = {24: "M1", 70: "M2", 160: "M3"}
CREATOR = "calpipe sim mips"


class SimFiles(NamedTuple):
    raw: Path
    truth: Path


def _pointings(b: Band, nexp: int, seed: int, field: dict, dithers) -> list[dict]:
    """WCS keywords of every science DCE: the field centre, dithered (DCE 0 undithered)."""
    rng = np.random.default_rng([seed, b.band, 1])
    max_px = DITHER_ARCSEC / b.pixel_scale_arcsec
    drawn = rng.uniform(-max_px, max_px, (nexp, 2))
    drawn[0] = 0.0
    if dithers is not None:
        drawn = np.asarray(dithers, np.float64).reshape(-1, 2)
        if drawn.shape[0] != nexp:
            raise ValueError(f"dithers: {nexp} rows (dx, dy) needed, got {drawn.shape[0]}")
    base = skymod.astropy_wcs(skymod.wcs_keywords(field["ra_centre"], field["dec_centre"], field["roll"],
                                                  b.pixel_scale_arcsec, b.crpix))
    out = []
    for dx, dy in drawn:
        cx, cy = b.crpix[0] - 1 + dx, b.crpix[1] - 1 + dy
        ra, dec = (float(v) for v in base.pixel_to_world_values(cx, cy))
        kw = skymod.wcs_keywords(ra % 360.0, dec, field["roll"], b.pixel_scale_arcsec, b.crpix)
        kw["dither_px"] = (float(dx), float(dy))
        out.append(kw)
    return out


def _sources(field: dict, sources) -> dict:
    """The field's sources, or rows (ra, dec, flux24, flux70, flux160) given by the caller ([] for none)."""
    if sources is None:
        return field
    rows = np.asarray(sources, np.float64).reshape(-1, 5)
    return {"id": np.arange(len(rows)), "ra": rows[:, 0], "dec": rows[:, 1], "flux24": rows[:, 2],
            "flux70": rows[:, 3], "flux160": rows[:, 4]}


def _check(b: Band, nexp: int, mips_seconds: int, aorkey: int, date_obs: str, sky: float, rate: float):
    if not 1 <= int(nexp) <= 10000:
        raise ValueError(f"nexp must be 1..10000, got {nexp}")
    if int(mips_seconds) not in b.exposures:
        allowed = ", ".join(str(e) for e in b.exposures)
        raise ValueError(f"{b.band} um exposures are {allowed} MIPS seconds, got {mips_seconds}")
    if not 0 < int(aorkey) < 10**9:
        raise ValueError(f"aorkey must be a positive integer below 1e9, got {aorkey}")
    if not (sky >= 0 and rate >= 0):
        raise ValueError(f"need sky >= 0 and a cosmic-ray rate >= 0 (got {sky}, {rate})")
    try:
        datetime.fromisoformat(date_obs)
    except ValueError as exc:
        raise ValueError(f"date_obs '{date_obs}' is not an ISO 8601 date") from exc


def simulate(out_dir: Path | str, band: int | str = 24, nexp: int = 4, seed: int = 0,
             **options) -> list[SimFiles]:
    """Write ``nexp`` science DCEs of one AOR in ``band`` (and their truth); see simulate24/simulate_ge."""
    b = det.band(band)
    return simulate_ge(out_dir, b.band, nexp, seed, **options) if b.is_ge else \
        simulate24(out_dir, nexp, seed, **options)


# ----------------------------------------------------------------------------------------- 24 um
def lsq_weights(times: np.ndarray) -> np.ndarray:
    """w_i with slope = sum w_i y_i for a least-squares line through (t_i, y_i)."""
    d = times - times.mean()
    return d / (d * d).sum()


def cosmic_rays_24(rng: np.random.Generator, b: Band, times: np.ndarray, rate_cm2_s: float,
                   dead: np.ndarray) -> tuple[dict, dict]:
    """Hits of one 24 um DCE and the charge [e-] they leave per pixel (CR_KERNEL footprint)."""
    ny, nx = b.shape
    area = (nx * PIXEL_CM_24) * (ny * PIXEL_CM_24)
    duration = float(times[-1])
    n = int(rng.poisson(rate_cm2_s * area * duration))
    t = rng.uniform(0.0, duration, n)
    yc, xc = rng.integers(0, ny, n), rng.integers(0, nx, n)
    charge = b.cr_median_e * np.exp(CR_SIGMA_LN * rng.standard_normal(n))
    rows = {"hit": [], "y": [], "x": [], "charge": []}
    for i in range(n):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = yc[i] + dy, xc[i] + dx
                if 0 <= y < ny and 0 <= x < nx and not dead[y, x]:
                    rows["hit"].append(i)
                    rows["y"].append(y)
                    rows["x"].append(x)
                    rows["charge"].append(charge[i] * CR_KERNEL[dy + 1, dx + 1])
    pixels = {"hit": np.asarray(rows["hit"], np.int64), "y": np.asarray(rows["y"], np.int64),
              "x": np.asarray(rows["x"], np.int64), "charge": np.asarray(rows["charge"], np.float64)}
    return {"time": t, "y": yc.astype(np.int64), "x": xc.astype(np.int64), "charge": charge}, pixels


def ramp24(rate: np.ndarray, alpha: np.ndarray, well: np.ndarray, jail: np.ndarray, times: np.ndarray,
           gain: float, read_sigma: float, rng: np.random.Generator | None,
           hits: list[tuple[float, np.ndarray, np.ndarray]],
           droop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reads (n, ny, nx) float64 (integers) of one DCE, and the saturated map (last read clipped).

    rng None: noiseless (Q = rate t + cosmic-ray charge exactly, no read noise).
    hits: (time, flat pixel index, charge [e-]) added to every read from ``time`` on.
    droop: c per pixel; every pixel then reads Q + c x mean(Q) (the array's whole charge,
    cosmic rays included), before the nonlinearity.
    """
    n = len(times)
    reads = np.empty((n, *rate.shape))
    electrons = np.zeros(rate.shape)
    cr = np.zeros(rate.size)
    previous = 0.0
    clipped = np.zeros(rate.shape, bool)
    jail_cols = jail[np.arange(rate.shape[1]) % 4][None, :]
    for i, t in enumerate(times):
        for th, index, charge in hits:
            if previous < th <= t:
                np.add.at(cr, index, charge)
        if rng is None:
            q = rate * t + cr.reshape(rate.shape) / gain
        else:
            electrons += rng.poisson(np.maximum(rate, 0.0) * gain * (t - previous))
            q = (electrons + cr.reshape(rate.shape)) / gain
        previous = t
        if droop is not None:
            q = q + droop * q.mean()
        measured = q * (1.0 + alpha * q)
        clipped = measured >= well
        measured = np.minimum(measured, well) + jail_cols * t
        if rng is not None and read_sigma > 0:
            measured = measured + read_sigma * rng.standard_normal(rate.shape)
        reads[i] = np.rint(measured)
    return reads, clipped


def encode24(reads: np.ndarray, dt: float) -> np.ndarray:
    """On-board products: uint16 (2, ny, nx) slope words and first-difference words."""
    times = (np.arange(reads.shape[0]) + 1.0) * dt
    slope = np.tensordot(lsq_weights(times), reads, axes=1) * dt  # DN per sample
    words = np.rint(det.SLOPE_SCALE * slope) + det.SLOPE_ZERO
    diff = reads[1] - reads[0] + det.DIFF_ZERO
    return np.clip(np.stack([words, diff]), 0, 65535).astype(np.uint16)


def simulate24(out_dir: Path | str, nexp: int = 4, seed: int = 0, mips_seconds: int = 10,
               noiseless: bool = False, cosmic_rays: bool | None = None, cr_rate: float = CR_RATE,
               sky: float | None = None, sources=None, dithers=None, droop: bool = True,
               jailbar: bool = True, nonlinearity: bool = True, aorkey: int = DEFAULT_AORKEY,
               date_obs: str = DEFAULT_DATE, detector_seed: int = det.DEFAULT_SEED,
               csm_positions=None) -> list[SimFiles]:
    """Write ``nexp`` dithered 24 um DCEs of one AOR and their truth into ``out_dir``.

    sky: uniform background [MJy/sr] (None: 20); sources: None for the seeded field (sky.py),
    rows (ra, dec, flux24, flux70, flux160 [mJy]) or [] for none; cosmic_rays defaults to
    ``not noiseless``; droop, jailbar, nonlinearity switch those effects; csm_positions: the
    scan-mirror position of each DCE (default: cycling through detector.CSM_POSITIONS).
    """
    b = det.BANDS[24]
    sky_level = b.sky_mjysr if sky is None else float(sky)
    _check(b, nexp, mips_seconds, aorkey, date_obs, sky_level, cr_rate)
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    maps = det.maps24(detector_seed)
    field = skymod.field(seed)
    srcs = _sources(field, sources)
    pointings = _pointings(b, nexp, seed, field, dithers)
    if csm_positions is None:
        csm_positions = [det.CSM_POSITIONS[k % len(det.CSM_POSITIONS)] for k in range(nexp)]
    elif len(csm_positions) != nexp:
        raise ValueError(f"csm_positions: {nexp} values needed, got {len(csm_positions)}")
    dt = b.sample_time
    n = b.nreads(mips_seconds)
    times = (np.arange(n) + 1.0) * dt
    weights = lsq_weights(times)
    start = datetime.fromisoformat(date_obs)
    out_dir = Path(out_dir)
    alpha = maps.alpha.astype(np.float64) if nonlinearity else np.zeros(b.shape)
    dead = (maps.dq & det.DQ.DEAD) != 0
    written = []
    for k in range(nexp):
        rng_cr, rng_noise, rng_jail = (np.random.default_rng([seed, 24, k, i]) for i in (1, 2, 3))
        kw = pointings[k]
        csm = float(csm_positions[k])
        image, found = skymod.sky_image(srcs, "flux24", kw, b.psf_sigma_px, b.shape, b.pixar_sr, sky_level)
        sky32 = image.astype(np.float32)
        flat = maps.flat(csm)
        rate0 = sky32.astype(np.float64) / b.fluxconv * flat + maps.dark
        draw = rng_jail.standard_normal(4) * JAILBAR_DN_S
        jail = (draw - draw.mean()) if jailbar else np.zeros(4)
        if cosmic_rays:
            hits, pixels = cosmic_rays_24(rng_cr, b, times, cr_rate, dead)
        else:
            hits, pixels = _no_hits()
        hit_list = []
        for i, t in enumerate(hits["time"]):
            mine = pixels["hit"] == i
            index = pixels["y"][mine] * b.shape[1] + pixels["x"][mine]
            hit_list.append((float(t), index, pixels["charge"][mine]))
        droop_map = maps.droop.astype(np.float64) if droop else None
        reads, saturated = ramp24(rate0, alpha, maps.well.astype(np.float64), jail, times, b.gain,
                                  b.read_sigma_dn, None if noiseless else rng_noise, hit_list, droop_map)
        raw = encode24(reads, dt)
        # cosmic rays' share of the on-board slope: a step of q/GAIN DN from the first sample after t_hit
        after = np.array([weights[times >= t].sum() for t in hits["time"]])
        pixels["rate"] = (pixels["charge"] / b.gain * after[pixels["hit"]]) if len(after) else np.zeros(0)
        cr_rate_map = np.zeros(b.shape)
        np.add.at(cr_rate_map, (pixels["y"], pixels["x"]), pixels["rate"])
        # droop's share of the slope: c x the mean of everything collected (its noise aside)
        droop_rate = maps.droop * (rate0.mean() + cr_rate_map.mean()) if droop else np.zeros(b.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            cr_bcd = np.where(flat > 0, cr_rate_map / flat * b.fluxconv, 0.0).astype(np.float32)

        when = start + timedelta(seconds=k * (n * dt + OVERHEAD_S + sum(SLEW_S) / 2))
        stem = f"SPITZER_{FILE_TAG[24]}_{int(aorkey)}_{k:04d}_{k:04d}_0000"
        iso = when.isoformat(timespec="milliseconds")
        raw_path = _write_raw24(raw, out_dir / f"{stem}_raw.fits", b, n, dt, mips_seconds, csm, int(aorkey),
                                k, iso, kw)
        parameters: dict[str, Any] = {
            "band": 24, "detector": b.detector, "seed": int(seed), "detector_seed": maps.seed,
            "noiseless": bool(noiseless), "mips_seconds": int(mips_seconds), "nreads": n, "sample_time": dt,
            "read_times": times, "gain": b.gain, "readnoise_e": b.readnoise_e,
            "read_sigma_dn": b.read_sigma_dn,
            "sigma_read_slope": det.slope_sigma_read(n, dt, b.read_sigma_dn),
            "fluxconv": b.fluxconv, "pixar_sr": b.pixar_sr, "psf_sigma_px": b.psf_sigma_px,
            "sky_background_mjysr": sky_level, "csm_position": csm, "droop": bool(droop),
            "jailbar": bool(jailbar), "nonlinearity": bool(nonlinearity),
            "nonlinearity_law": "read = min(Q (1 + alpha Q), well); slope = r + alpha r^2 (t_0 + t_last)",
            "cosmic_rays": cosmic_rays, "cr_rate_cm2_s": float(cr_rate), "cr_median_charge": b.cr_median_e,
            "cr_kernel": CR_KERNEL, "slope_scale": det.SLOPE_SCALE, "slope_zero": det.SLOPE_ZERO,
            "diff_zero": det.DIFF_ZERO, "aorkey": int(aorkey), "expid": k, "dcenum": k, "date_obs": iso,
            "ra_ref": kw["crval1"], "dec_ref": kw["crval2"], "roll_ref": field["roll"],
            "dither_px": np.asarray(kw["dither_px"]), "raw_file": raw_path.name,
        }
        truth = {
            "sky": sky32, "bcd": sky32, "rate0": rate0.astype(np.float32),
            "droop_rate": np.asarray(droop_rate, np.float32), "mean_rate": float(rate0.mean()),
            "detector_rate": (rate0 + droop_rate).astype(np.float32), "jailbar": np.asarray(jail, np.float64),
            "flat": flat, "dark": np.array(maps.dark), "saturated": saturated,
            "cr_rate": cr_rate_map.astype(np.float32), "cr_bcd": cr_bcd,
            "cosmic_rays": hits, "cosmic_ray_pixels": pixels,
            "sources": found, "aor_sources": _aor_sources(srcs), "parameters": parameters,
        }
        written.append(SimFiles(raw_path, write_tree_atomic(truth, out_dir / f"{stem}_truth.asdf",
                                                            compress=("saturated", "cr_rate", "cr_bcd"))))
    return written


def _aor_sources(srcs: dict) -> dict:
    return {k: np.asarray(srcs[k]).copy() for k in ("id", "ra", "dec", "flux24", "flux70", "flux160")}


def _no_hits() -> tuple[dict, dict]:
    f, i = np.zeros(0), np.zeros(0, np.int64)
    return {"time": f, "y": i, "x": i, "charge": f}, {"hit": i, "y": i, "x": i, "charge": f}


def _common_meta(model, b: Band, n: int, dt: float, mips_seconds: int, aorkey: int, expid: int, dcenum: int,
                 date_obs: str, kw: dict, exptype: str = "SCIENCE") -> None:
    meta = model.meta
    meta.telescope = "Spitzer"
    meta.instrument.name = "MIPS"
    meta.instrument.detector = b.detector
    meta.instrument.channel = str(b.band)
    meta.observation.date_obs = date_obs
    meta.observation.program = "SPITZER"  # Level 0 tags: program SPITZER, visit AORKEY
    meta.observation.visit = str(aorkey)
    meta.observation.exposure = f"{expid:04d}"
    m = meta.mips
    m.aorkey, m.expid, m.dcenum, m.band, m.exptype = aorkey, expid, dcenum, b.band, exptype
    m.mips_seconds, m.nreads, m.sample_time, m.exposure_time = int(mips_seconds), n, dt, (n - 1) * dt
    m.gain, m.readnoise, m.creator = b.gain, b.readnoise_e, CREATOR
    sub = meta.subarray
    sub.name, sub.xstart, sub.ystart, sub.xsize, sub.ysize = "FULL", 1, 1, b.shape[1], b.shape[0]
    meta.pointing.ra_ref, meta.pointing.dec_ref = kw["crval1"], kw["crval2"]
    roll = math.degrees(math.atan2(kw["cd1_2"], kw["cd2_2"])) % 360.0
    meta.pointing.roll_ref = roll
    for key in ("ctype1", "ctype2", "cunit1", "cunit2", "crval1", "crval2", "crpix1", "crpix2",
                "cd1_1", "cd1_2", "cd2_1", "cd2_2", "radesys"):
        setattr(meta.wcsinfo, key, kw[key])
    meta.bunit_data = "DN"


def _write_raw24(data: np.ndarray, path: Path, b: Band, n: int, dt: float, mips_seconds: int, csm: float,
                 aorkey: int, k: int, date_obs: str, kw: dict) -> Path:
    from .models import Mips24RawModel

    raw = Mips24RawModel(data=data)
    _common_meta(raw, b, n, dt, mips_seconds, aorkey, k, k, date_obs, kw)
    m = raw.meta.mips
    m.csm_position = csm
    m.slope_scale, m.slope_zero, m.diff_zero = det.SLOPE_SCALE, det.SLOPE_ZERO, det.DIFF_ZERO
    return write_atomic(raw, path)


# ------------------------------------------------------------------------------------------- Ge
class Dce(NamedTuple):
    kind: str  # SCIENCE, STIM or BKGD
    expid: int  # science index (for stim cycles: the science DCE whose pointing they share)
    start: float  # s since the AOR start


def dce_stream(nexp: int, stim_period: int, duration: float) -> list[Dce]:
    """The AOR's DCEs in time order: a stim cycle, stim_period science DCEs, a stim cycle, ..."""
    stream: list[Dce] = []
    t = 0.0

    def add(kind: str, expid: int) -> None:
        nonlocal t
        if kind == "SCIENCE" and stream and stream[-1].kind == "SCIENCE":
            t += sum(SLEW_S) / 2  # dither between science DCEs
        stream.append(Dce(kind, expid, t))
        t += duration + OVERHEAD_S

    for k in range(nexp):
        if k % stim_period == 0:
            for kind in ("BKGD", "STIM", "BKGD"):
                add(kind, k)
        add("SCIENCE", k)
    for kind in ("BKGD", "STIM", "BKGD"):
        add(kind, nexp - 1)
    return stream


def responsivity(t: np.ndarray | float, r0: float, drift_per_hour: float) -> np.ndarray:
    """R(t) = R0 (1 + drift t / 3600) [DN/s per MIU]."""
    return r0 * (1.0 + drift_per_hour * np.asarray(t, np.float64) / 3600.0)


def simulate_ge(out_dir: Path | str, band: int = 70, nexp: int = 8, seed: int = 0, mips_seconds: int = 3,
                noiseless: bool = False, cosmic_rays: bool | None = None, cr_rate: float = GE_CR_RATE,
                bump: tuple[float, float] = GE_BUMP, bump_tau: float = GE_BUMP_TAU,
                drift_per_hour: float = DRIFT_PER_HOUR, stim_period: int = STIM_PERIOD,
                sky: float | None = None, sources=None, dithers=None, nonlinearity: bool = True,
                aorkey: int = DEFAULT_AORKEY, date_obs: str = DEFAULT_DATE,
                detector_seed: int = det.DEFAULT_SEED) -> list[SimFiles]:
    """Write ``nexp`` science DCEs of a 70 or 160 um AOR (each with its stim cycles) and their truth.

    cr_rate: hits per pixel per second; bump: range of the responsivity jump A after a hit,
    decaying with bump_tau [s] ((0, 0) for none); drift_per_hour: R(t) slope; stim_period:
    science DCEs between stim cycles; the rest as for simulate24.
    """
    b = det.band(band)
    if not b.is_ge:
        raise ValueError("simulate_ge is for the 70 and 160 um arrays")
    sky_level = b.sky_mjysr if sky is None else float(sky)
    _check(b, nexp, mips_seconds, aorkey, date_obs, sky_level, cr_rate)
    if not 1 <= int(stim_period) <= 100:
        raise ValueError(f"stim_period must be 1..100, got {stim_period}")
    if not (0 <= bump[0] <= bump[1] < 1 and bump_tau > 0):
        raise ValueError(f"bump must be 0 <= low <= high < 1 and bump_tau > 0, got {bump}, {bump_tau}")
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    maps = det.maps_ge(b.band, detector_seed)
    field = skymod.field(seed)
    srcs = _sources(field, sources)
    pointings = _pointings(b, nexp, seed, field, dithers)
    dt = b.sample_time
    n = b.nreads(mips_seconds)
    duration = n * dt
    stream = dce_stream(int(nexp), int(stim_period), duration)
    beta = maps.beta.astype(np.float64) if nonlinearity else np.zeros(b.shape)
    gmap = maps.gain_map.astype(np.float64)
    stim_image = b.stim_miu * maps.stim_pattern.astype(np.float64)
    dead = (maps.dq & det.DQ.DEAD) != 0
    ny, nx = b.shape
    rng_cr = np.random.default_rng([seed, b.band, 2])
    bumps: list[tuple[float, int, int, float]] = []  # (t_hit, y, x, A), the AOR's history
    sky_cache: dict[int, tuple[np.ndarray, dict]] = {}
    results = []
    for j, dce in enumerate(stream):
        rng_noise = np.random.default_rng([seed, b.band, 3, j])
        if dce.expid not in sky_cache:
            sky_cache[dce.expid] = skymod.sky_image(srcs, f"flux{b.band}", pointings[dce.expid],
                                                    b.psf_sigma_px, b.shape, b.pixar_sr, sky_level)
        image, found = sky_cache[dce.expid]
        sky32 = image.astype(np.float32)
        miu = sky32.astype(np.float64) / b.fluxconv + (stim_image if dce.kind == "STIM" else 0.0)
        rho_start = _rho(bumps, dce.start, bump_tau, b.shape)  # earlier hits' bumps still decaying
        # cosmic rays of this DCE
        hits = {"time": [], "y": [], "x": [], "charge": [], "amplitude": []}
        if cosmic_rays and cr_rate > 0:
            count = rng_cr.poisson(cr_rate * duration, b.shape)
            for y, x in zip(*np.nonzero((count > 0) & ~dead), strict=True):
                for _ in range(int(count[y, x])):
                    hits["time"].append(dce.start + rng_cr.uniform(0.0, duration))
                    hits["y"].append(int(y))
                    hits["x"].append(int(x))
                    hits["charge"].append(b.cr_median_e * math.exp(CR_SIGMA_LN * rng_cr.standard_normal()))
                    hits["amplitude"].append(rng_cr.uniform(*bump))
        for t, y, x, a in zip(hits["time"], hits["y"], hits["x"], hits["amplitude"], strict=True):
            bumps.append((t, y, x, a))
        read_times = dce.start + (np.arange(n) + 1.0) * dt
        reads = np.empty((n, ny, nx))
        q = np.zeros(b.shape)
        rho_sum = np.zeros(b.shape)
        previous = dce.start
        for i, t in enumerate(read_times):
            mid = 0.5 * (previous + t)
            rho = _rho(bumps, mid, bump_tau, b.shape)
            rho_sum += rho
            rate = gmap * responsivity(mid, b.responsivity, drift_per_hour) * rho * miu + maps.dark
            if noiseless:
                q = q + rate * (t - previous)
            else:
                q = q + rng_noise.poisson(np.maximum(rate, 0.0) * b.gain * (t - previous)) / b.gain
            for th, y, x, c in zip(hits["time"], hits["y"], hits["x"], hits["charge"], strict=True):
                if previous < th <= t:
                    q[y, x] += c / b.gain
            previous = t
            value = maps.bias + q * (1.0 + beta * q)
            if not noiseless:
                value = value + b.read_sigma_dn * rng_noise.standard_normal(b.shape)
            reads[i] = np.minimum(np.rint(value), maps.saturation)
        raw = np.clip(reads, 0, 65535).astype(np.uint16)
        mid_time = dce.start + (n + 1) / 2.0 * dt
        results.append({"dce": dce, "raw": raw, "mid": mid_time, "sky": sky32, "found": found,
                        "rho_mean": rho_sum / n, "rho_start": rho_start,
                        "hits": {k: np.asarray(v) for k, v in hits.items()},
                        "saturated": reads[-1] >= maps.saturation,
                        "R": float(responsivity(mid_time, b.responsivity, drift_per_hour))})

    cycles = [j for j, r in enumerate(results) if r["dce"].kind == "STIM"]
    start = datetime.fromisoformat(date_obs)
    out_dir = Path(out_dir)
    written = []
    for j, r in enumerate(results):
        dce = r["dce"]
        if dce.kind != "SCIENCE":
            continue
        k = dce.expid
        c = k // int(stim_period)
        used = [cycles[c] - 1, cycles[c], cycles[c] + 1, cycles[c + 1] - 1, cycles[c + 1], cycles[c + 1] + 1]
        stim_ramps = np.stack([results[u]["raw"] for u in used])
        stim_times = np.array([results[u]["mid"] - dce.start for u in used])
        iso = (start + timedelta(seconds=dce.start)).isoformat(timespec="milliseconds")
        stem = f"SPITZER_{FILE_TAG[b.band]}_{int(aorkey)}_{k:04d}_{j:04d}_0000"
        raw_path = _write_rawge(r["raw"], stim_ramps, stim_times, np.array(used, np.int32),
                                out_dir / f"{stem}_raw.fits", b, n, dt, mips_seconds, int(aorkey), k, j, iso,
                                pointings[k])
        stim_r = [results[u]["R"] for u in (used[1], used[4])]
        rho_stim = [results[u]["rho_mean"] for u in (used[1], used[4])]
        parameters: dict[str, Any] = {
            "band": b.band, "detector": b.detector, "seed": int(seed), "detector_seed": maps.seed,
            "noiseless": bool(noiseless), "mips_seconds": int(mips_seconds), "nreads": n, "sample_time": dt,
            "gain": b.gain, "readnoise_e": b.readnoise_e, "read_sigma_dn": b.read_sigma_dn,
            "fluxconv": b.fluxconv, "pixar_sr": b.pixar_sr, "psf_sigma_px": b.psf_sigma_px,
            "sky_background_mjysr": sky_level, "responsivity_r0": b.responsivity,
            "drift_per_hour": float(drift_per_hour), "stim_miu": b.stim_miu, "stim_period": int(stim_period),
            "nonlinearity": bool(nonlinearity), "nonlinearity_law": "read = bias + Q (1 + beta Q)",
            "cosmic_rays": cosmic_rays, "cr_rate_px_s": float(cr_rate), "cr_median_charge": b.cr_median_e,
            "bump_range": list(bump), "bump_tau": float(bump_tau),
            "aorkey": int(aorkey), "expid": k, "dcenum": j, "date_obs": iso,
            "aor_time": dce.start, "mid_time": r["mid"], "stim_dcenum": used,
            "ra_ref": pointings[k]["crval1"], "dec_ref": pointings[k]["crval2"], "roll_ref": field["roll"],
            "dither_px": np.asarray(pointings[k]["dither_px"]), "raw_file": raw_path.name,
        }
        truth = {
            "sky": r["sky"], "bcd": r["sky"], "miu": (r["sky"] / np.float32(b.fluxconv)).astype(np.float32),
            "responsivity": r["R"], "stim_responsivity": stim_r, "rho_mean": r["rho_mean"].astype(np.float32),
            "rho_start": r["rho_start"].astype(np.float32),
            "rho_stim": [x.astype(np.float32) for x in rho_stim],
            "gain_map": np.array(maps.gain_map), "stim_pattern": np.array(maps.stim_pattern),
            "dark": np.array(maps.dark), "saturated": r["saturated"], "cosmic_rays": r["hits"],
            "sources": r["found"], "aor_sources": _aor_sources(srcs), "parameters": parameters,
        }
        written.append(SimFiles(raw_path, write_tree_atomic(truth, out_dir / f"{stem}_truth.asdf")))
    return written


def _rho(bumps: list, t: float, tau: float, shape: tuple[int, int]) -> np.ndarray:
    rho = np.ones(shape)
    for th, y, x, a in bumps:
        if th < t:
            rho[y, x] += a * math.exp(-(t - th) / tau)
    return rho


def _write_rawge(data: np.ndarray, stim_ramps: np.ndarray, stim_times: np.ndarray, stim_dcenum: np.ndarray,
                 path: Path, b: Band, n: int, dt: float, mips_seconds: int, aorkey: int, k: int, dcenum: int,
                 date_obs: str, kw: dict) -> Path:
    from .models import MipsGeRawModel

    raw = MipsGeRawModel(data=data)
    raw.stim_ramps = stim_ramps
    raw.stim_times = stim_times.astype(np.float64)
    raw.stim_dcenum = stim_dcenum.astype(np.int32)
    _common_meta(raw, b, n, dt, mips_seconds, aorkey, k, dcenum, date_obs, kw)
    return write_atomic(raw, path)


def run(args) -> int:
    """`calpipe sim mips`: simulate and print the paths written (raw, truth per DCE)."""
    from calpipe.core.errors import UsageError

    try:
        b = det.band(args.band)
        options: dict[str, Any] = {"noiseless": args.noiseless, "aorkey": args.aorkey}
        if args.no_cosmic_rays:
            options["cosmic_rays"] = False
        if args.sky is not None:
            options["sky"] = args.sky
        if args.mips_seconds is not None:
            options["mips_seconds"] = args.mips_seconds
        nexp = args.nexp if args.nexp is not None else (4 if b.band == 24 else 8)
        files = simulate(args.output_dir, b.band, nexp, args.seed, **options)
    except ValueError as exc:
        raise UsageError(f"calpipe sim mips: {exc}") from exc
    for f in files:
        print(f.raw)
        print(f.truth)
    return 0
