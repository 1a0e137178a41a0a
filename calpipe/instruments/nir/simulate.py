"""nir simulator: a raw MULTIACCUM exposure and its truth, through the detector model.

Chain (the one every calpipe simulator follows, README "Instruments"), per integration and frame:

    sky [MJy/sr] (uniform background + point sources: Gaussian PSF integrated over
    each pixel with erf) -> / PHOTMJSR -> x flat -> + dark = true rate [DN/s]
    -> x gain [e-/s] -> Poisson increments between successive frames, summed
    -> + cosmic-ray charge, from the first frame read after the hit onwards
    -> / gain [DN] -> S = Q - beta Q² (charge clipped where S reaches the full well)
    -> + bias + reference drift (per amplifier and odd/even column, per frame)
    -> + read noise -> clip to the ADC range -> average nframes frames per group,
    drop groupgap frames (on board) -> round to uint16.

Frames are made one at a time and folded into their group, so memory stays at a
few full-frame planes plus the (nints, ngroups, ny, nx) uint16 output. The
charge of the groupgap frames dropped between groups is drawn at once (a sum of
Poisson increments is Poisson), as only their total reaches a read frame.

Reference-pixel drift: every frame adds, to all pixels of an amplifier (4
blocks of 512 full-frame columns) including its reference pixels, an offset
made of a per-integration level (sigma 25 DN) with an odd/even-column
difference (sigma 3 DN), a linear drift in time (sigma 0.002 DN/s) and
frame-to-frame white noise (sigma 1 DN). Reference pixels see no light, no
dark current and no cosmic rays, so their rows measure the offset: refpix can
remove it on full frames. Subarrays are placed at the centre of the detector,
away from the reference border: they have no reference pixels (refpix must
skip them), so their drift stays in the data (the constant part cancels in the
slope; the rest adds ~1 DN of correlated noise per frame).

noiseless=True turns off Poisson noise, read noise, the reference drift and
(unless cosmic_rays=True is passed) cosmic rays: the raw ramp is then exactly
round(bias + mean over the group's frames of S(rate x t_frame)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from calpipe.core.io import write_tree_atomic
from calpipe.sim.cosmic_rays import draw_hits, empty_tables
from calpipe.sim.psf import footprint, point_source_image
from calpipe.sim.wcs import pointing_wcs

from .detector import (
    AMP_WIDTH,
    DEFAULT_SEED,
    FULL,
    NREF,
    PIXEL_SIZE_CM,
    DetectorMaps,
    detector_maps,
    frame_time,
)

READ_PATTERNS: dict[str, tuple[int, int]] = {  # name -> (nframes, groupgap)
    "RAPID": (1, 0), "BRIGHT1": (1, 1), "BRIGHT2": (2, 0), "SHALLOW2": (2, 3), "SHALLOW4": (4, 1),
    "MEDIUM2": (2, 8), "MEDIUM8": (8, 2), "DEEP2": (2, 18), "DEEP8": (8, 12),
}
ADC_MAX = 65535
TELESCOPE = "JWST-like"  # as the nir plugin's Instrument says
FILTER = "F200W"  # a label: the detector model has a single bandpass

SKY_BACKGROUND = 0.2  # MJy/sr (zodiacal-like)
POINTING = (53.16, -27.78, 0.0)  # RA_REF, DEC_REF, ROLL_REF [deg]
PIXEL_SCALE_ARCSEC = 0.031  # assign_wcs's default
CRPIX_FULL = (1024.5, 1024.5)
PSF_SIGMA = 1.0  # px
SOURCES_PER_PIXEL = 25 / 256**2
SOURCE_FLUX_RANGE = (0.1, 200.0)  # µJy, log-uniform
CR_RATE = 4.0  # hits / cm² / s
CR_MEDIAN_CHARGE = 3000.0  # e-
CR_SIGMA_LN = 0.8  # lognormal width of the charge
CR_SIGMA_PX = 0.5  # Gaussian footprint: ~5 pixels get > 5 % of the charge
DRIFT_LEVEL, DRIFT_EVEN_ODD, DRIFT_SLOPE, DRIFT_WHITE = 25.0, 3.0, 0.002, 1.0  # DN, DN, DN/s, DN


class SimFiles(NamedTuple):
    raw: Path
    truth: Path


@dataclass(frozen=True)
class Readout:
    """Timing and geometry of one exposure."""

    readpatt: str
    nframes: int
    groupgap: int
    ngroups: int
    nints: int
    name: str  # FULL or SUBnnn
    xstart: int  # 1-based full-frame origin
    ystart: int
    nx: int
    ny: int

    @property
    def tframe(self) -> float:
        return frame_time(self.nx, self.ny)

    @property
    def tgroup(self) -> float:
        return (self.nframes + self.groupgap) * self.tframe

    @property
    def frames_per_integration(self) -> int:
        """Frames from reset to the last one read (the trailing gap is not taken)."""
        return self.ngroups * (self.nframes + self.groupgap) - self.groupgap

    @property
    def exposure_time(self) -> float:
        """EFFEXPTM: nints x the span of the slope, (ngroups - 1) x TGROUP."""
        return self.nints * (self.ngroups - 1) * self.tgroup

    def group_of_frame(self, frame: int | np.ndarray) -> int | np.ndarray:
        """The first group whose average includes 1-based ``frame`` (a dropped frame: the next group)."""
        return -(-(np.asarray(frame) - self.nframes) // (self.nframes + self.groupgap))

    def group_frames(self, group: int) -> range:
        """1-based numbers of the frames averaged into ``group`` (0-based)."""
        first = group * (self.nframes + self.groupgap) + 1
        return range(first, first + self.nframes)

    def group_times(self) -> np.ndarray:
        """Mean read time [s] of each group's frames."""
        k = np.arange(self.ngroups)
        return self.tframe * (k * (self.nframes + self.groupgap) + (self.nframes + 1) / 2)



def readout(readpatt: str = "MEDIUM8", ngroups: int = 10, nints: int = 1,
            subarray: int | str | None = 256) -> Readout:
    """Check the readout options; subarrays are square and centred (no reference pixels)."""
    patt = str(readpatt).upper()
    if patt not in READ_PATTERNS:
        raise ValueError(f"unknown read pattern '{readpatt}' (choose from {', '.join(READ_PATTERNS)})")
    if not 2 <= int(ngroups) <= 1000:
        raise ValueError(f"ngroups must be 2..1000 (a slope needs two groups), got {ngroups}")
    if not 1 <= int(nints) <= 1000:
        raise ValueError(f"nints must be 1..1000, got {nints}")
    size = parse_subarray(subarray)
    nframes, groupgap = READ_PATTERNS[patt]
    if size is None:
        return Readout(patt, nframes, groupgap, int(ngroups), int(nints), "FULL", 1, 1, FULL, FULL)
    start = (FULL - size) // 2 + 1
    return Readout(patt, nframes, groupgap, int(ngroups), int(nints), f"SUB{size}", start, start, size, size)


def parse_subarray(value: int | str | None) -> int | None:
    """Side of a square subarray (8..FULL-2*NREF), or None for the full frame."""
    if value is None or str(value).upper() == "FULL":
        return None
    text = str(value).upper().removeprefix("SUB")
    if not text.isdigit() or not 8 <= int(text) <= FULL - 2 * NREF:
        raise ValueError(f"subarray must be FULL or a side of 8..{FULL - 2 * NREF} pixels "
                         f"(e.g. 256 or SUB256), got '{value}'")
    return int(text)


def random_sources(rng: np.random.Generator, ro: Readout) -> np.ndarray:
    """(x, y, flux µJy) rows: ~25 per 256² pixels, log-uniform 0.1-200 µJy, off the reference border."""
    margin = 3 + (NREF if ro.name == "FULL" else 0)
    n = rng.poisson(SOURCES_PER_PIXEL * ro.nx * ro.ny)
    lo, hi = np.log(SOURCE_FLUX_RANGE)
    x, y = rng.uniform(margin, ro.nx - 1 - margin, n), rng.uniform(margin, ro.ny - 1 - margin, n)
    return np.column_stack([x, y, np.exp(rng.uniform(lo, hi, n))])


def draw_cosmic_rays(rng: np.random.Generator, ro: Readout, rate: float,
                     usable: np.ndarray) -> tuple[dict, dict]:
    """Hits of one integration: Poisson in time and area, lognormal charge, Gaussian footprint.

    Returns (hits, pixels): column dicts; ``pixels`` has one row per pixel that got
    >= 0.5 e-, with the 1-based frame that first includes it and the first group
    affected (a hit between reads j-1 and j shows from frame j on).
    """
    duration = ro.frames_per_integration * ro.tframe
    area = ro.nx * ro.ny * PIXEL_SIZE_CM**2
    t, yc, xc, charge = draw_hits(rng, rate * area * duration, duration, (ro.ny, ro.nx), CR_MEDIAN_CHARGE,
                                  CR_SIGMA_LN)
    n = t.size
    frame = np.clip(np.ceil(t / ro.tframe).astype(np.int64), 1, ro.frames_per_integration)
    hits = {"time": t, "frame": frame, "group": ro.group_of_frame(frame).astype(np.int64),
            "y": yc, "x": xc, "charge": charge}
    rows: list[tuple] = []
    for i in range(n):
        y0, x0, fractions = footprint(xc[i], yc[i], CR_SIGMA_PX, 2, (ro.ny, ro.nx))
        share = charge[i] * fractions
        for (dy, dx), q in np.ndenumerate(share):
            if q >= 0.5 and usable[y0 + dy, x0 + dx]:
                rows.append((i, frame[i], hits["group"][i], y0 + dy, x0 + dx, q))
    cols = np.array(rows, dtype=[("hit", np.int64), ("frame", np.int64), ("group", np.int64),
                                 ("y", np.int64), ("x", np.int64), ("charge", np.float64)])
    return hits, {name: cols[name].copy() for name in cols.dtype.names}


def reference_drift(rng: np.random.Generator, ro: Readout) -> np.ndarray:
    """Offsets [DN] of one integration, shape (frames, amplifier, column parity)."""
    t = ro.tframe * np.arange(1, ro.frames_per_integration + 1)
    level = rng.normal(0.0, DRIFT_LEVEL, (4, 1)) + rng.normal(0.0, DRIFT_EVEN_ODD, (4, 2))
    slope = rng.normal(0.0, DRIFT_SLOPE, 4)
    white = rng.normal(0.0, DRIFT_WHITE, (t.size, 4))
    return level[None] + (slope[None, :] * t[:, None] + white)[:, :, None]


def _integration(ro: Readout, cut: dict[str, np.ndarray], rate_e: np.ndarray, drift: np.ndarray | None,
                 crs: dict, rng: np.random.Generator, noiseless: bool, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (ngroups, ny, nx) uint16 frame by frame; returns the first saturated group (-1: none)."""
    shape = (ro.ny, ro.nx)
    lam = rate_e * ro.tframe
    charge = np.zeros(shape)
    total = np.zeros(shape)
    first_sat = np.full(shape, -1, np.int16)
    inv_gain = 1.0 / cut["gain"].astype(np.float64)
    beta = cut["beta"].astype(np.float64)
    # charge (DN) at which S = Q - beta Q² reaches the full well; beyond it S stays at the well
    q_clip = (1.0 - np.sqrt(1.0 - 4.0 * beta * cut["full_well"])) / (2.0 * beta)
    columns = np.arange(ro.xstart - 1, ro.xstart - 1 + ro.nx)
    amp, parity = columns // AMP_WIDTH, columns % 2
    order = np.argsort(crs["frame"], kind="stable")
    cr_frame, cr_flat = crs["frame"][order], (crs["y"] * ro.nx + crs["x"])[order]
    cr_charge = crs["charge"][order]

    def collect(first: int, last: int) -> None:
        """Add the charge of frames first..last (1-based): one Poisson draw for their summed expectation."""
        n = last - first + 1
        charge[...] += lam * n if noiseless else rng.poisson(lam * n)
        lo, hi = np.searchsorted(cr_frame, [first, last + 1])
        if hi > lo:
            np.add.at(charge.reshape(-1), cr_flat[lo:hi], cr_charge[lo:hi])

    for group in range(ro.ngroups):
        frames = ro.group_frames(group)
        if group and ro.groupgap:
            collect(frames[0] - ro.groupgap, frames[0] - 1)  # dropped on board: only their charge counts
        total[...] = 0.0
        for j in frames:
            collect(j, j)
            q = np.minimum(charge * inv_gain, q_clip)
            frame = q - beta * q * q
            frame += cut["bias"]
            if drift is not None:
                frame += drift[j - 1, amp, parity][None, :]
            if not noiseless:
                frame += cut["readnoise"] * rng.standard_normal(shape, dtype=np.float32)
            np.clip(frame, 0, ADC_MAX, out=frame)  # each frame is digitised within the ADC range
            total += frame
        value = np.clip(np.rint(total / ro.nframes), 0, ADC_MAX).astype(np.uint16)
        out[group] = value
        first_sat[(first_sat < 0) & (value >= cut["saturation"])] = group
    return first_sat


def simulate(out_dir: Path | str, readpatt: str = "MEDIUM8", ngroups: int = 10, nints: int = 1,
             subarray: int | str | None = 256, seed: int = 0, detector: str = "NRCA1",
             noiseless: bool = False, cosmic_rays: bool | None = None, cr_rate: float = CR_RATE,
             refdrift: bool | None = None, sky: float = SKY_BACKGROUND,
             sources: Sequence[Sequence[float]] | np.ndarray | None = None, psf_sigma: float = PSF_SIGMA,
             program: str = "00001", visit: str = "001", exposure: str = "00001",
             date_obs: str = "2026-01-01T00:00:00", detector_seed: int = DEFAULT_SEED,
             pointing: tuple[float, float, float] = POINTING,
             sky_sources: np.ndarray | None = None) -> SimFiles:
    """Write ``nir_<program>_<visit>_<exposure>_uncal.fits`` and ``..._truth.asdf`` into ``out_dir``.

    sky: uniform background [MJy/sr]; sources: rows (x, y, flux µJy) in the
    product's 0-based pixel coordinates, None for a random field, [] for none;
    sky_sources: rows (RA, Dec, flux µJy) placed through the exposure's WCS at
    ``pointing`` (RA_REF, DEC_REF, ROLL_REF), as assign_wcs will write it.
    cosmic_rays and refdrift default to ``not noiseless``. subarray: a side
    (centred square, no reference pixels) or "FULL"/None (with the border).

    Truth (ASDF tree):
      rate    true rate [DN/s] = sky/PHOTMJSR x flat + dark (0 on reference pixels):
              what ramp fitting should recover before flat fielding
      sky     [MJy/sr]: what image2 (flat, photom) should recover
      sources x, y, flux [µJy], flux_mjysr_px (sum of the source over pixels, MJy/sr)
      cosmic_rays   one row per hit: int, group (first affected), frame, time, y, x, charge [e-]
      cr_pixels     one row per pixel a hit gave >= 0.5 e-: int, hit, group, frame, y, x, charge [e-]
      saturated, first_saturated_group  (nints, ny, nx): groups whose raw value is >=
              the saturation threshold (the reference's), i.e. what the saturation
              step flags before growing; -1 where none
      refdrift (nints, frames, 4 amplifiers, 2 parities) [DN]; group_times [s]; parameters
    """
    ro = readout(readpatt, ngroups, nints, subarray)
    for key, value in (("program", program), ("visit", visit), ("exposure", exposure)):
        if not str(value).isalnum() or not str(value).isascii():
            raise ValueError(f"{key} must be letters and digits (it names the files), got '{value}'")
    if not (sky >= 0 and psf_sigma > 0 and cr_rate >= 0):
        raise ValueError(f"need sky >= 0, psf_sigma > 0 and cr_rate >= 0 (got {sky}, {psf_sigma}, {cr_rate})")
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    refdrift = (not noiseless) if refdrift is None else bool(refdrift)
    maps = detector_maps(detector, detector_seed)
    y0, x0 = ro.ystart - 1, ro.xstart - 1
    window = (slice(y0, y0 + ro.ny), slice(x0, x0 + ro.nx))
    cut = {name: getattr(maps, name)[window] for name in
           ("bias", "flat", "dark", "gain", "readnoise", "saturation", "full_well", "beta")}
    light = ~maps.reference_pixels[window]
    sensitive = light & (cut["flat"] > 0)  # dead pixels respond to nothing, cosmic rays included

    rng_sky, rng_cr, rng_drift, rng_noise = (np.random.default_rng([seed, k]) for k in range(4))
    if sky_sources is not None:
        x, y = exposure_wcs(ro, pointing).world_to_pixel_values(sky_sources[:, 0], sky_sources[:, 1])
        src = np.column_stack([x, y, sky_sources[:, 2]])
    else:
        src = (random_sources(rng_sky, ro) if sources is None
               else np.asarray(sources, dtype=np.float64).reshape(-1, 3))
    per_ujy = 1e-12 / maps.pixar_sr  # MJy/sr summed over pixels, per µJy
    sky_image = sky + point_source_image(np.column_stack([src[:, :2], src[:, 2] * per_ujy]),
                                         psf_sigma, (ro.ny, ro.nx))
    rate = np.where(light, sky_image / maps.photmjsr * cut["flat"] + cut["dark"], 0.0)
    rate_e = rate * cut["gain"]

    data = np.empty((ro.nints, ro.ngroups, ro.ny, ro.nx), np.uint16)
    first_sat = np.empty((ro.nints, ro.ny, ro.nx), np.int16)
    drifts = np.zeros((ro.nints, ro.frames_per_integration, 4, 2))
    hit_cols: dict[str, list] = {}
    pix_cols: dict[str, list] = {}
    for i in range(ro.nints):
        hits, pixels = draw_cosmic_rays(rng_cr, ro, cr_rate, sensitive) if cosmic_rays else _no_cosmic_rays()
        if refdrift:
            drifts[i] = reference_drift(rng_drift, ro)
        first_sat[i] = _integration(ro, cut, rate_e, drifts[i] if refdrift else None, pixels, rng_noise,
                                    noiseless, data[i])
        for cols, new in ((hit_cols, hits), (pix_cols, pixels)):
            cols.setdefault("int", []).append(np.full(len(new["group"]), i, np.int64))
            for key, values in new.items():
                cols.setdefault(key, []).append(values)

    out_dir = Path(out_dir)
    stem = f"nir_{program}_{visit}_{exposure}"
    raw_path = _write_raw(ro, data, maps, out_dir / f"{stem}_uncal.fits", program, visit, exposure, date_obs,
                          pointing)
    parameters = {
        "detector": maps.detector, "detector_seed": maps.seed, "seed": int(seed), "readpatt": ro.readpatt,
        "nframes": ro.nframes, "groupgap": ro.groupgap, "ngroups": ro.ngroups, "nints": ro.nints,
        "subarray": ro.name, "xstart": ro.xstart, "ystart": ro.ystart, "xsize": ro.nx, "ysize": ro.ny,
        "tframe": ro.tframe, "tgroup": ro.tgroup, "exposure_time": ro.exposure_time,
        "noiseless": bool(noiseless), "cosmic_rays": cosmic_rays, "cr_rate_cm2_s": float(cr_rate),
        "cr_median_charge": CR_MEDIAN_CHARGE, "cr_sigma_ln": CR_SIGMA_LN, "cr_sigma_px": CR_SIGMA_PX,
        "refdrift": refdrift, "sky_background_mjysr": float(sky), "psf_sigma_px": float(psf_sigma),
        "photmjsr": maps.photmjsr, "pixar_sr": maps.pixar_sr, "raw_file": raw_path.name,
    }
    truth = {
        "rate": rate.astype(np.float32),
        "sky": sky_image.astype(np.float32),
        "sources": {"x": src[:, 0].copy(), "y": src[:, 1].copy(), "flux": src[:, 2].copy(),
                    "flux_mjysr_px": src[:, 2] * per_ujy,
                    **({} if sky_sources is None else {"ra": sky_sources[:, 0].copy(),
                                                       "dec": sky_sources[:, 1].copy()})},
        "cosmic_rays": {k: np.concatenate(v) for k, v in hit_cols.items()},
        "cr_pixels": {k: np.concatenate(v) for k, v in pix_cols.items()},
        "saturated": first_sat >= 0,
        "first_saturated_group": first_sat,
        "refdrift": drifts.astype(np.float32),
        "group_times": ro.group_times(),
        "parameters": parameters,
    }
    return SimFiles(raw_path, write_tree_atomic(truth, out_dir / f"{stem}_truth.asdf"))


def exposure_wcs(ro: Readout, pointing: tuple[float, float, float]):
    """The TAN WCS assign_wcs (default parameters) gives an exposure at ``pointing``."""
    return pointing_wcs(*pointing, PIXEL_SCALE_ARCSEC, CRPIX_FULL, (ro.xstart, ro.ystart))


def simulate_dithers(out_dir: Path | str, ndither: int, dither_px: float = 20.0, seed: int = 0,
                     **kwargs) -> list[SimFiles]:
    """``ndither`` exposures of one field (exposures 00001...), pointings offset by up to ``dither_px``.

    The sources are fixed on the sky (drawn once, ~25 per 256² pixels, as in
    `simulate`), so a Level 3 mosaic and source list can be checked against
    one truth: every exposure's truth carries their RA, Dec and flux.
    """
    if ndither < 1:
        raise ValueError(f"ndither must be at least 1, got {ndither}")
    rng = np.random.default_rng([seed, 99])
    ro = readout(kwargs.get("readpatt", "MEDIUM8"), kwargs.get("ngroups", 10), kwargs.get("nints", 1),
                 kwargs.get("subarray", 256))
    field = random_sources(rng, ro)
    centre = exposure_wcs(ro, POINTING)
    ra, dec = centre.pixel_to_world_values(field[:, 0], field[:, 1])
    sky_sources = np.column_stack([ra, dec, field[:, 2]])
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    files = []
    for k in range(ndither):
        dx, dy = (0.0, 0.0) if k == 0 else rng.uniform(-dither_px, dither_px, 2)
        pointing = (POINTING[0] - dx * scale / math.cos(math.radians(POINTING[1])),
                    POINTING[1] + dy * scale, POINTING[2])
        files.append(simulate(out_dir, seed=seed + k, exposure=f"{k + 1:05d}", pointing=pointing,
                              sky_sources=sky_sources, **kwargs))
    return files


def _no_cosmic_rays() -> tuple[dict, dict]:
    i, f = np.int64, np.float64
    return empty_tables({"time": f, "frame": i, "group": i, "y": f, "x": f, "charge": f},
                        {"hit": i, "frame": i, "group": i, "y": i, "x": i, "charge": f})


def _write_raw(ro: Readout, data: np.ndarray, maps: DetectorMaps, path: Path, program: str, visit: str,
               exposure: str, date_obs: str, pointing: tuple[float, float, float]) -> Path:
    from calpipe.core.io import write_atomic
    from calpipe.core.models.products import RawModel

    raw = RawModel(data=data)
    meta = raw.meta
    meta.telescope = TELESCOPE
    meta.instrument.name = "NIR"
    meta.instrument.detector = maps.detector
    meta.instrument.filter = FILTER
    meta.observation.date_obs = date_obs
    meta.observation.program, meta.observation.visit, meta.observation.exposure = program, visit, exposure
    ex = meta.exposure
    ex.readpatt, ex.nints, ex.ngroups = ro.readpatt, ro.nints, ro.ngroups
    ex.nframes, ex.groupgap, ex.frame_divisor = ro.nframes, ro.groupgap, ro.nframes
    ex.frame_time, ex.group_time, ex.exposure_time = ro.tframe, ro.tgroup, ro.exposure_time
    ex.exptime = ro.exposure_time
    ex.gain_factor = 1.0
    sub = meta.subarray
    sub.name, sub.xstart, sub.ystart, sub.xsize, sub.ysize = ro.name, ro.xstart, ro.ystart, ro.nx, ro.ny
    meta.pointing.ra_ref, meta.pointing.dec_ref, meta.pointing.roll_ref = pointing
    meta.bunit_data = "DN"
    return write_atomic(raw, path)



def run(args) -> int:
    """`calpipe sim nir`: simulate and print the paths written (raw, truth per exposure)."""
    from calpipe.core.errors import UsageError

    options = dict(readpatt=args.readpatt, ngroups=args.ngroups, nints=args.nints, subarray=args.subarray,
                   noiseless=args.noiseless, cosmic_rays=False if args.no_cosmic_rays else None, sky=args.sky,
                   program=args.program, visit=args.visit)
    try:
        if args.ndither > 1:
            written = simulate_dithers(args.output_dir, args.ndither, seed=args.seed, **options)
        else:
            written = [simulate(args.output_dir, seed=args.seed, exposure=args.exposure, **options)]
    except ValueError as exc:
        raise UsageError(f"calpipe sim nir: {exc}") from exc
    for files in written:
        print(files.raw)
        print(files.truth)
    return 0
