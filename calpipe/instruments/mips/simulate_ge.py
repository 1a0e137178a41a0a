"""MIPS 70 and 160 um simulator (Ge:Ga, sample-up-the-ramp, stim flashes): see simulate.py for the chain."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from calpipe.core.io import write_atomic, write_tree_atomic

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

GE_CR_RATE = 0.01  # hits / pixel / s

GE_BUMP = (0.01, 0.05)

GE_BUMP_TAU = 100.0  # s

DRIFT_PER_HOUR = 0.10

STIM_PERIOD = 4  # science DCEs between stim cycles



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

    Three stages, as for IRAC and 24 um: plan_aor_ge fixes the AOR (options, detector, sky,
    pointings, the stream of DCEs), draw_stream_ge draws every DCE in time order (a hit's
    responsivity bump carries into later DCEs), _write_science_ge writes each science DCE with
    the stim cycles around it, and its truth.
    """
    aor = plan_aor_ge(band, nexp, seed, mips_seconds, noiseless, cosmic_rays, cr_rate, bump, bump_tau,
                      drift_per_hour, stim_period, sky, sources, dithers, nonlinearity, aorkey, date_obs,
                      detector_seed)
    return _write_science_ge(aor, draw_stream_ge(aor), Path(out_dir))


@dataclass(frozen=True, eq=False)
class AorGe:
    """A 70 or 160 um AOR as planned: what all its DCEs share."""

    band: Band
    seed: int
    noiseless: bool
    cosmic_rays: bool
    cr_rate: float
    bump: tuple[float, float]
    bump_tau: float
    drift_per_hour: float
    stim_period: int
    sky_level: float
    nonlinearity: bool
    aorkey: int
    mips_seconds: int
    date_obs: str
    maps: det.MapsGe
    field: dict
    srcs: dict
    pointings: list[dict]
    dt: float
    n: int
    duration: float
    stream: list[Dce]
    beta: np.ndarray
    gmap: np.ndarray
    stim_image: np.ndarray
    dead: np.ndarray


def plan_aor_ge(band: int, nexp: int, seed: int, mips_seconds: int, noiseless: bool, cosmic_rays: bool | None,
                cr_rate: float, bump: tuple[float, float], bump_tau: float, drift_per_hour: float,
                stim_period: int, sky: float | None, sources, dithers, nonlinearity: bool, aorkey: int,
                date_obs: str, detector_seed: int) -> AorGe:
    """Check the options and fix the AOR; nothing of a single DCE is drawn here."""
    b = det.band(band)
    if not b.is_ge:
        raise ValueError("simulate_ge is for the 70 and 160 um arrays")
    sky_level = b.sky_mjysr if sky is None else float(sky)
    check(b, nexp, mips_seconds, aorkey, date_obs, sky_level, cr_rate)
    if not 1 <= int(stim_period) <= 100:
        raise ValueError(f"stim_period must be 1..100, got {stim_period}")
    if not (0 <= bump[0] <= bump[1] < 1 and bump_tau > 0):
        raise ValueError(f"bump must be 0 <= low <= high < 1 and bump_tau > 0, got {bump}, {bump_tau}")
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    maps = det.maps_ge(b.band, detector_seed)
    field = skymod.field(seed)
    srcs = sources_of(field, sources)
    dce_pointings = pointings(b, nexp, seed, field, dithers)
    dt = b.sample_time
    n = b.nreads(mips_seconds)
    duration = n * dt
    stream = dce_stream(int(nexp), int(stim_period), duration)
    beta = maps.beta.astype(np.float64) if nonlinearity else np.zeros(b.shape)
    gmap = maps.gain_map.astype(np.float64)
    stim_image = b.stim_miu * maps.stim_pattern.astype(np.float64)
    dead = (maps.dq & det.DQ.DEAD) != 0
    return AorGe(b, seed, noiseless, cosmic_rays, cr_rate, bump, bump_tau, drift_per_hour, stim_period,
                 sky_level, nonlinearity, aorkey, mips_seconds, date_obs, maps, field, srcs, dce_pointings,
                 dt, n, duration, stream, beta, gmap, stim_image, dead)


def draw_stream_ge(aor: AorGe) -> list[dict[str, Any]]:
    """Every DCE of the stream in time order: sky, cosmic rays and their bumps, reads."""
    (
        b, seed, noiseless, cosmic_rays, cr_rate, bump, bump_tau, drift_per_hour, sky_level, maps,
        srcs, dce_pointings, dt, n, duration, stream, beta, gmap, stim_image, dead
    ) = (
        aor.band, aor.seed, aor.noiseless, aor.cosmic_rays, aor.cr_rate, aor.bump, aor.bump_tau,
        aor.drift_per_hour, aor.sky_level, aor.maps, aor.srcs, aor.pointings, aor.dt, aor.n,
        aor.duration, aor.stream, aor.beta, aor.gmap, aor.stim_image, aor.dead
    )
    ny, nx = b.shape
    rng_cr = np.random.default_rng([seed, b.band, 2])
    bumps: list[tuple[float, int, int, float]] = []  # (t_hit, y, x, A), the AOR's history
    sky_cache: dict[int, tuple[np.ndarray, dict]] = {}
    results = []
    for j, dce in enumerate(stream):
        rng_noise = np.random.default_rng([seed, b.band, 3, j])
        if dce.expid not in sky_cache:
            sky_cache[dce.expid] = skymod.sky_image(srcs, f"flux{b.band}", dce_pointings[dce.expid],
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

    return results


def _write_science_ge(aor: AorGe, results: list[dict[str, Any]], out_dir: Path) -> list[SimFiles]:
    """Each science DCE with the raw ramps of the stim cycles before and after it, and its truth."""
    (
        b, seed, noiseless, cosmic_rays, cr_rate, bump, bump_tau, drift_per_hour, stim_period,
        sky_level, nonlinearity, aorkey, mips_seconds, date_obs, maps, field, srcs, dce_pointings,
        dt, n
    ) = (
        aor.band, aor.seed, aor.noiseless, aor.cosmic_rays, aor.cr_rate, aor.bump, aor.bump_tau,
        aor.drift_per_hour, aor.stim_period, aor.sky_level, aor.nonlinearity, aor.aorkey,
        aor.mips_seconds, aor.date_obs, aor.maps, aor.field, aor.srcs, aor.pointings, aor.dt, aor.n
    )
    cycles = [j for j, r in enumerate(results) if r["dce"].kind == "STIM"]
    start = datetime.fromisoformat(date_obs)
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
                                dce_pointings[k])
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
            "ra_ref": dce_pointings[k]["crval1"], "dec_ref": dce_pointings[k]["crval2"],
            "roll_ref": field["roll"],
            "dither_px": np.asarray(dce_pointings[k]["dither_px"]), "raw_file": raw_path.name,
        }
        truth = {
            "sky": r["sky"], "bcd": r["sky"], "miu": (r["sky"] / np.float32(b.fluxconv)).astype(np.float32),
            "responsivity": r["R"], "stim_responsivity": stim_r, "rho_mean": r["rho_mean"].astype(np.float32),
            "rho_start": r["rho_start"].astype(np.float32),
            "rho_stim": [x.astype(np.float32) for x in rho_stim],
            "gain_map": np.array(maps.gain_map), "stim_pattern": np.array(maps.stim_pattern),
            "dark": np.array(maps.dark), "saturated": r["saturated"], "cosmic_rays": r["hits"],
            "sources": r["found"], "aor_sources": aor_sources(srcs), "parameters": parameters,
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
    common_meta(raw, b, n, dt, mips_seconds, aorkey, k, dcenum, date_obs, kw)
    return write_atomic(raw, path)

