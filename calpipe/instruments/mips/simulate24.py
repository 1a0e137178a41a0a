"""MIPS 24 um simulator (Si:As, on-board slopes): see simulate.py for the chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from calpipe.core.io import write_atomic, write_tree_atomic
from calpipe.sim.cosmic_rays import empty_tables

from . import detector as det
from . import sky as skymod
from .aor import (
    CR_SIGMA_LN,
    DEFAULT_AORKEY,
    DEFAULT_DATE,
    FILE_TAG,
    OVERHEAD_S,
    SLEW_S,
    SimFiles,
    aor_sources,
    check,
    common_meta,
    pointings,
    sources_of,
)
from .detector import Band

CR_RATE = 4.0  # 24 um: hits / cm^2 / s

PIXEL_CM_24 = 75e-4

CR_KERNEL = np.array([[0.01, 0.04, 0.01], [0.04, 0.80, 0.04], [0.01, 0.04, 0.01]])  # 24 um footprint

JAILBAR_DN_S = 1.5  # 24 um: rms offset of a readout channel [DN/s]



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

    Three stages, as for IRAC: plan_aor24 fixes the AOR (pointings, sources, detector, timing),
    draw_dce24 draws one DCE (its own seeded generators), _write_dce24 writes it and its truth.
    """
    aor = plan_aor24(nexp, seed, mips_seconds, noiseless, cosmic_rays, cr_rate, sky, sources, dithers, droop,
                     jailbar, nonlinearity, aorkey, date_obs, detector_seed, csm_positions)
    return [_write_dce24(aor, k, draw_dce24(aor, k), Path(out_dir)) for k in range(nexp)]


@dataclass(frozen=True, eq=False)
class Aor24:
    """A 24 um AOR as planned: what all its DCEs share (options, detector, sky, pointings, timing)."""

    band: Band
    seed: int
    noiseless: bool
    cosmic_rays: bool
    cr_rate: float
    sky_level: float
    mips_seconds: int
    droop: bool
    jailbar: bool
    nonlinearity: bool
    aorkey: int
    maps: det.Maps24
    field: dict
    srcs: dict
    pointings: list[dict]
    csm_positions: list[float]
    dt: float
    n: int
    times: np.ndarray
    weights: np.ndarray
    start: datetime
    alpha: np.ndarray
    dead: np.ndarray


def plan_aor24(nexp: int, seed: int, mips_seconds: int, noiseless: bool, cosmic_rays: bool | None,
               cr_rate: float, sky: float | None, sources, dithers, droop: bool, jailbar: bool,
               nonlinearity: bool, aorkey: int, date_obs: str, detector_seed: int, csm_positions) -> Aor24:
    """Check the options and fix the AOR; nothing of a single DCE is drawn here."""
    b = det.BANDS[24]
    sky_level = b.sky_mjysr if sky is None else float(sky)
    check(b, nexp, mips_seconds, aorkey, date_obs, sky_level, cr_rate)
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    maps = det.maps24(detector_seed)
    field = skymod.field(seed)
    srcs = sources_of(field, sources)
    dce_pointings = pointings(b, nexp, seed, field, dithers)
    if csm_positions is None:
        csm_positions = [det.CSM_POSITIONS[k % len(det.CSM_POSITIONS)] for k in range(nexp)]
    elif len(csm_positions) != nexp:
        raise ValueError(f"csm_positions: {nexp} values needed, got {len(csm_positions)}")
    dt = b.sample_time
    n = b.nreads(mips_seconds)
    times = (np.arange(n) + 1.0) * dt
    weights = lsq_weights(times)
    start = datetime.fromisoformat(date_obs)
    alpha = maps.alpha.astype(np.float64) if nonlinearity else np.zeros(b.shape)
    dead = (maps.dq & det.DQ.DEAD) != 0
    return Aor24(b, seed, noiseless, cosmic_rays, cr_rate, sky_level, mips_seconds, droop, jailbar,
                 nonlinearity, aorkey, maps, field, srcs, dce_pointings, list(csm_positions), dt, n, times,
                 weights, start, alpha, dead)


def draw_dce24(aor: Aor24, k: int) -> dict[str, Any]:
    """DCE ``k``: sky, rates, jailbars, cosmic rays, reads and on-board words (seeded by (seed, 24, k))."""
    b, maps, times, dt = aor.band, aor.maps, aor.times, aor.dt
    rng_cr, rng_noise, rng_jail = (np.random.default_rng([aor.seed, 24, k, i]) for i in (1, 2, 3))
    kw = aor.pointings[k]
    csm = float(aor.csm_positions[k])
    image, found = skymod.sky_image(aor.srcs, "flux24", kw, b.psf_sigma_px, b.shape, b.pixar_sr,
                                   aor.sky_level)
    sky32 = image.astype(np.float32)
    flat = maps.flat(csm)
    rate0 = sky32.astype(np.float64) / b.fluxconv * flat + maps.dark
    draw = rng_jail.standard_normal(4) * JAILBAR_DN_S
    jail = (draw - draw.mean()) if aor.jailbar else np.zeros(4)
    if aor.cosmic_rays:
        hits, pixels = cosmic_rays_24(rng_cr, b, times, aor.cr_rate, aor.dead)
    else:
        hits, pixels = _no_hits()
    hit_list = []
    for i, t in enumerate(hits["time"]):
        mine = pixels["hit"] == i
        index = pixels["y"][mine] * b.shape[1] + pixels["x"][mine]
        hit_list.append((float(t), index, pixels["charge"][mine]))
    droop_map = maps.droop.astype(np.float64) if aor.droop else None
    reads, saturated = ramp24(rate0, aor.alpha, maps.well.astype(np.float64), jail, times, b.gain,
                              b.read_sigma_dn, None if aor.noiseless else rng_noise, hit_list, droop_map)
    raw = encode24(reads, dt)
    # cosmic rays' share of the on-board slope: a step of q/GAIN DN from the first sample after t_hit
    after = np.array([aor.weights[times >= t].sum() for t in hits["time"]])
    pixels["rate"] = (pixels["charge"] / b.gain * after[pixels["hit"]]) if len(after) else np.zeros(0)
    cr_rate_map = np.zeros(b.shape)
    np.add.at(cr_rate_map, (pixels["y"], pixels["x"]), pixels["rate"])
    # droop's share of the slope: c x the mean of everything collected (its noise aside)
    droop_rate = maps.droop * (rate0.mean() + cr_rate_map.mean()) if aor.droop else np.zeros(b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        cr_bcd = np.where(flat > 0, cr_rate_map / flat * b.fluxconv, 0.0).astype(np.float32)

    return {"kw": kw, "csm": csm, "found": found, "sky32": sky32, "flat": flat, "rate0": rate0, "jail": jail,
            "hits": hits, "pixels": pixels, "saturated": saturated, "raw": raw, "cr_rate_map": cr_rate_map,
            "droop_rate": droop_rate, "cr_bcd": cr_bcd}


def _write_dce24(aor: Aor24, k: int, drawn: dict[str, Any], out_dir: Path) -> SimFiles:
    """The raw DCE and its truth file."""
    b, maps, n, dt, aorkey, mips_seconds = aor.band, aor.maps, aor.n, aor.dt, aor.aorkey, aor.mips_seconds
    kw, csm, sky32, rate0, droop_rate, cr_rate_map = (drawn[key] for key in (
        "kw", "csm", "sky32", "rate0", "droop_rate", "cr_rate_map"))
    when = aor.start + timedelta(seconds=k * (n * dt + OVERHEAD_S + sum(SLEW_S) / 2))
    stem = f"SPITZER_{FILE_TAG[24]}_{int(aorkey)}_{k:04d}_{k:04d}_0000"
    iso = when.isoformat(timespec="milliseconds")
    raw_path = _write_raw24(drawn["raw"], out_dir / f"{stem}_raw.fits", b, n, dt, mips_seconds, csm,
                            int(aorkey), k, iso, kw)
    parameters: dict[str, Any] = {
        "band": 24, "detector": b.detector, "seed": int(aor.seed), "detector_seed": maps.seed,
        "noiseless": bool(aor.noiseless), "mips_seconds": int(mips_seconds), "nreads": n, "sample_time": dt,
        "read_times": aor.times, "gain": b.gain, "readnoise_e": b.readnoise_e,
        "read_sigma_dn": b.read_sigma_dn,
        "sigma_read_slope": det.slope_sigma_read(n, dt, b.read_sigma_dn),
        "fluxconv": b.fluxconv, "pixar_sr": b.pixar_sr, "psf_sigma_px": b.psf_sigma_px,
        "sky_background_mjysr": aor.sky_level, "csm_position": csm, "droop": bool(aor.droop),
        "jailbar": bool(aor.jailbar), "nonlinearity": bool(aor.nonlinearity),
        "nonlinearity_law": "read = min(Q (1 + alpha Q), well); slope = r + alpha r^2 (t_0 + t_last)",
        "cosmic_rays": aor.cosmic_rays, "cr_rate_cm2_s": float(aor.cr_rate),
        "cr_median_charge": b.cr_median_e,
        "cr_kernel": CR_KERNEL, "slope_scale": det.SLOPE_SCALE, "slope_zero": det.SLOPE_ZERO,
        "diff_zero": det.DIFF_ZERO, "aorkey": int(aorkey), "expid": k, "dcenum": k, "date_obs": iso,
        "ra_ref": kw["crval1"], "dec_ref": kw["crval2"], "roll_ref": aor.field["roll"],
        "dither_px": np.asarray(kw["dither_px"]), "raw_file": raw_path.name,
    }
    truth = {
        "sky": sky32, "bcd": sky32, "rate0": rate0.astype(np.float32),
        "droop_rate": np.asarray(droop_rate, np.float32), "mean_rate": float(rate0.mean()),
        "detector_rate": (rate0 + droop_rate).astype(np.float32),
        "jailbar": np.asarray(drawn["jail"], np.float64),
        "flat": drawn["flat"], "dark": np.array(maps.dark), "saturated": drawn["saturated"],
        "cr_rate": cr_rate_map.astype(np.float32), "cr_bcd": drawn["cr_bcd"],
        "cosmic_rays": drawn["hits"], "cosmic_ray_pixels": drawn["pixels"],
        "sources": drawn["found"], "aor_sources": aor_sources(aor.srcs), "parameters": parameters,
    }
    return SimFiles(raw_path, write_tree_atomic(truth, out_dir / f"{stem}_truth.asdf",
                                                    compress=("saturated", "cr_rate", "cr_bcd")))


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



def _no_hits() -> tuple[dict, dict]:
    f, i = np.float64, np.int64
    return empty_tables({"time": f, "y": i, "x": i, "charge": f}, {"hit": i, "y": i, "x": i, "charge": f})



def _write_raw24(data: np.ndarray, path: Path, b: Band, n: int, dt: float, mips_seconds: int, csm: float,
                 aorkey: int, k: int, date_obs: str, kw: dict) -> Path:
    from .models import Mips24RawModel

    raw = Mips24RawModel(data=data)
    common_meta(raw, b, n, dt, mips_seconds, aorkey, k, k, date_obs, kw)
    m = raw.meta.mips
    m.csm_position = csm
    m.slope_scale, m.slope_zero, m.diff_zero = det.SLOPE_SCALE, det.SLOPE_ZERO, det.DIFF_ZERO
    return write_atomic(raw, path)

