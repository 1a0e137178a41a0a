"""What the MIPS simulators of both kinds share: an AOR's pointings, its sources, checks, metadata.

The 24 um simulator is simulate24.py, the 70/160 um (Ge:Ga) one simulate_ge.py; simulate.py
chooses between them.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from calpipe.sim.wcs import pointing_keywords, pointing_wcs

from .detector import Band

CR_SIGMA_LN = 0.8

DITHER_ARCSEC = 30.0

OVERHEAD_S = 1.0  # reset and readout between DCEs

SLEW_S = (3.0, 6.0)  # dither slews

DEFAULT_DATE = "2006-06-01T00:00:00.000"

DEFAULT_AORKEY = 23456789

FILE_TAG = {24: "M1", 70: "M2", 160: "M3"}

CREATOR = "calpipe sim mips"



class SimFiles(NamedTuple):
    raw: Path
    truth: Path



def pointings(b: Band, nexp: int, seed: int, field: dict, dithers) -> list[dict]:
    """WCS keywords of every science DCE: the field centre, dithered (DCE 0 undithered)."""
    rng = np.random.default_rng([seed, b.band, 1])
    max_px = DITHER_ARCSEC / b.pixel_scale_arcsec
    drawn = rng.uniform(-max_px, max_px, (nexp, 2))
    drawn[0] = 0.0
    if dithers is not None:
        drawn = np.asarray(dithers, np.float64).reshape(-1, 2)
        if drawn.shape[0] != nexp:
            raise ValueError(f"dithers: {nexp} rows (dx, dy) needed, got {drawn.shape[0]}")
    base = pointing_wcs(field["ra_centre"], field["dec_centre"], field["roll"], b.pixel_scale_arcsec, b.crpix)
    out = []
    for dx, dy in drawn:
        cx, cy = b.crpix[0] - 1 + dx, b.crpix[1] - 1 + dy
        ra, dec = (float(v) for v in base.pixel_to_world_values(cx, cy))
        kw = pointing_keywords(ra % 360.0, dec, field["roll"], b.pixel_scale_arcsec, b.crpix)
        kw["dither_px"] = (float(dx), float(dy))
        out.append(kw)
    return out



def sources_of(field: dict, sources) -> dict:
    """The field's sources, or rows (ra, dec, flux24, flux70, flux160) given by the caller ([] for none)."""
    if sources is None:
        return field
    rows = np.asarray(sources, np.float64).reshape(-1, 5)
    return {"id": np.arange(len(rows)), "ra": rows[:, 0], "dec": rows[:, 1], "flux24": rows[:, 2],
            "flux70": rows[:, 3], "flux160": rows[:, 4]}



def check(b: Band, nexp: int, mips_seconds: int, aorkey: int, date_obs: str, sky: float, rate: float):
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



def aor_sources(srcs: dict) -> dict:
    return {k: np.asarray(srcs[k]).copy() for k in ("id", "ra", "dec", "flux24", "flux70", "flux160")}



def common_meta(model, b: Band, n: int, dt: float, mips_seconds: int, aorkey: int, expid: int, dcenum: int,
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

