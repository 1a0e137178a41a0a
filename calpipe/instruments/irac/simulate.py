"""IRAC simulator: the dithered raw frames of one AOR, each with its truth, through the detector model.

The laws (Fowler timing, nonlinearity, saturation, barrel shift, sign
convention, electronic offsets) are stated in detector.py; this module applies
them per frame:

    sky [MJy/sr] = background + point sources (Gaussian PSF of the channel's
        FWHM, integrated over each pixel with erf), sources fixed in RA/Dec and
        placed through each frame's TAN WCS
    -> rate [DN/s] = sky / FLUXCONV x flat + dark current   (rounded to float32)
    -> electrons: Poisson increments between successive reads (x GAIN), plus
       cosmic-ray charge from the hit's time on; Q [DN] = electrons / GAIN
    -> each of the 2N reads: min(Q (1 + alpha Q), well) + read noise, rounded
    -> D = sum(signal reads) - sum(pedestal reads);  M = D / N
    -> electronic offsets E(M) [DN per frame, float32]: dark pattern, first frame,
       muxbleed (InSb), column pulldown, jailbar
    -> V = floor((D + N E) / 2^ABARREL) mod 2^16 -> raw = 65535 - V (InSb) or V.

Noise: the read noise of one read is RONOISE / GAIN x sqrt(N / 2) DN, so that
M has RONOISE [e-] / GAIN of read noise. noiseless=True turns off Poisson
noise, read noise and (unless cosmic_rays=True) cosmic rays; the electronic
offsets stay (they are systematic, and their random draws are seeded).

Pointing: RA_REF/DEC_REF are the sky position at the array centre (1-based
pixel CRPIX = (128.5, 128.5)); ROLL_REF is the position angle of +y east of
north, the convention of calpipe.steps.assign_wcs (CD matrix from 1.22"
pixels). Frame k's centre is the base pointing's pixel (127.5 + dx_k, 127.5 +
dy_k) (0-based), so a source at base pixel (x, y) shows near (x - dx_k, y - dy_k):
exactly at the centre, within 0.03 px at the corners (every frame keeps the
AOR's ROLL_REF while its tangent point moves; sources are placed through each
frame's own WCS, so truth x, y and RA/Dec agree exactly). Frame 0 is not
dithered; the others are offset uniformly within +-DITHER_MAX pixels. Frames
follow each other: FRAMEDLY = FIRST_FRAME_DELAY s for the first frame of the
AOR, 4-12 s (a dither slew) after; DATE-OBS advances by the previous FRAMTIME
plus the delay; EXPID and DCENUM count frames from 0. The AOR (roll, dithers,
delays, sky of sources) is drawn from the seed alone, so the four channels
simulated with one seed see the same sky.

Files: SPITZER_I<ch>_<AORKEY>_<EXPID:04>_<DCENUM:04>_0000_raw.fits (IracRawModel)
and ..._truth.asdf beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from calpipe.core.io import write_tree_atomic
from calpipe.sim.cosmic_rays import draw_hits, empty_tables
from calpipe.sim.psf import footprint, point_source_image
from calpipe.sim.wcs import pointing_wcs

from . import detector as det
from .detector import Channel, DetectorMaps, Readout

CR_RATE = 4.0  # hits / cm² / s
CR_SIGMA_LN = 0.8  # lognormal width of the charge
DITHER_MAX = 8.0  # px
FIRST_FRAME_DELAY = 1000.0  # s since the frame before the AOR
SLEW_DELAY = (4.0, 12.0)  # s between dithered frames (uniform)
SOURCES_PER_FRAME = 60.0  # mean number per 256² pixels
SOURCE_FLUX_RANGE = (0.01, 100.0)  # mJy, dN/dS ~ S^-1.5 (N(>S) ~ S^-0.5)
SOURCE_MARGIN = 12.0  # px beyond the undithered frame where sources are drawn
DEFAULT_RA, DEFAULT_DEC = 270.0, 66.56  # near the north ecliptic pole
DEFAULT_DATE = "2006-06-01T00:00:00.000"
DEFAULT_AORKEY = 12345678


class SimFiles(NamedTuple):
    raw: Path
    truth: Path


@dataclass
class FrameCharge:
    """What the 2N reads of one frame give (before the electronic offsets)."""

    difference: np.ndarray  # D = sum(signal) - sum(pedestal), float64 holding integers
    saturated: np.ndarray  # a signal read reached the well
    fallback: np.ndarray  # saturated and dD/drate < 0 (or every read clipped): D fell as the flux grew


def fowler_reads(rate: np.ndarray, alpha: np.ndarray, well: np.ndarray, ro: Readout, gain: float,
                 read_sigma_dn: float, rng: np.random.Generator | None,
                 hits: Sequence[tuple[float, np.ndarray, np.ndarray]] = ()) -> FrameCharge:
    """Fowler difference of one frame, any array shape (rng None: noiseless).

    rate [DN/s], alpha [1/DN], well [DN]: float64 arrays of one shape.
    hits: (time [s], flat pixel indices, charge [e-]) added from ``time`` on.
    Noiseless: Q(t) = rate t + hit charge / GAIN exactly; otherwise electrons
    are Poisson increments between reads. Each read is rint(min(f(Q), well) +
    noise), the charge being clipped where f reaches the well. The slope
    dD/drate = sum over unclipped reads of +-t f'(Q) tells the falling branch
    of a saturated pixel.
    """
    times = np.concatenate([ro.pedestal_times, ro.signal_times])
    sign = np.r_[-np.ones(ro.fowler), np.ones(ro.fowler)]
    rate_e = rate * gain
    electrons = np.zeros(rate.shape)
    cr_e = np.zeros(rate.shape)
    flat_cr = cr_e.reshape(-1)
    difference = np.zeros(rate.shape)
    slope = np.zeros(rate.shape)
    saturated = np.zeros(rate.shape, bool)
    all_clipped = np.zeros(rate.shape, bool)
    pending = sorted(hits, key=lambda h: h[0])
    # charge [DN] at which f(Q) reaches the well (the smaller root; f turns over at -1 / (2 alpha))
    with np.errstate(divide="ignore", invalid="ignore"):
        q_well = np.where(alpha != 0, (np.sqrt(1.0 + 4.0 * alpha * well) - 1.0) / (2.0 * alpha), well)
    previous = 0.0
    for t, s in zip(times, sign, strict=True):
        while pending and pending[0][0] <= t:
            _, index, charge = pending.pop(0)
            np.add.at(flat_cr, index, charge)
        if rng is None:
            q = rate * t + cr_e / gain
        else:
            electrons += rng.poisson(rate_e * (t - previous))
            q = (electrons + cr_e) / gain
        previous = t
        clipped = q >= q_well
        q = np.minimum(q, q_well)
        measured = np.minimum(q + alpha * q * q, well)
        if rng is not None and read_sigma_dn > 0:
            measured += read_sigma_dn * rng.standard_normal(rate.shape)
        difference += s * np.rint(measured)
        slope += np.where(clipped, 0.0, s * t * (1.0 + 2.0 * alpha * q))
        if s > 0:
            saturated |= clipped
        elif t == times[0]:
            all_clipped = clipped  # the first read clipped: so did every later one, D = 0
    return FrameCharge(difference, saturated, saturated & ((slope < 0) | all_clipped))


def frame_wcs(ra: float, dec: float, roll: float):
    """astropy TAN WCS of a frame pointed at (RA_REF, DEC_REF, ROLL_REF), as assign_wcs would write it."""
    return pointing_wcs(ra, dec, roll, det.PIXEL_SCALE_ARCSEC, det.CRPIX)


def random_sources(rng: np.random.Generator) -> np.ndarray:
    """(x, y, flux mJy) in the undithered frame's pixels, over the frame plus SOURCE_MARGIN."""
    lo, hi = -SOURCE_MARGIN, det.NPIX - 1 + SOURCE_MARGIN
    n = rng.poisson(SOURCES_PER_FRAME * ((hi - lo) / det.NPIX) ** 2)
    x, y = rng.uniform(lo, hi, n), rng.uniform(lo, hi, n)
    a, b = SOURCE_FLUX_RANGE[0] ** -0.5, SOURCE_FLUX_RANGE[1] ** -0.5
    flux = (a - rng.uniform(0.0, 1.0, n) * (a - b)) ** -2.0
    return np.column_stack([x, y, flux])


def draw_cosmic_rays(rng: np.random.Generator, ch: Channel, ro: Readout, rate_cm2_s: float,
                     sensitive: np.ndarray) -> tuple[dict, dict]:
    """Hits of one frame (Poisson in time over the frame and in area; lognormal charge; Gaussian footprint).

    Returns column dicts (hits, pixels). A hit at time t counts in the reads
    after t, so its share of the normalised difference is
    fraction = (signal reads after t - pedestal reads after t) / N (0 before
    the first pedestal read, 1 during the wait); dn = charge / GAIN x fraction
    (linear, before nonlinearity). pixels: one row per sensitive pixel given
    >= 0.5 e-.
    """
    area = (det.NPIX * det.PIXEL_SIZE_CM) ** 2
    t, yc, xc, charge = draw_hits(rng, rate_cm2_s * area * ro.frame_time, ro.frame_time, (det.NPIX, det.NPIX),
                                  ch.cr_median_e, CR_SIGMA_LN)
    n = t.size
    after_sig = (ro.signal_times[None, :] >= t[:, None]).sum(axis=1)
    after_ped = (ro.pedestal_times[None, :] >= t[:, None]).sum(axis=1)
    fraction = (after_sig - after_ped) / ro.fowler
    hits = {"time": t, "y": yc, "x": xc, "charge": charge, "fraction": fraction,
            "dn": charge / ch.gain * fraction}
    rows: list[tuple] = []
    half = math.ceil(4 * ch.cr_sigma_px) + 1
    for i in range(n):
        y0, x0, fractions = footprint(xc[i], yc[i], ch.cr_sigma_px, half, (det.NPIX, det.NPIX))
        share = charge[i] * fractions
        for (dy, dx), q in np.ndenumerate(share):
            if q >= 0.5 and sensitive[y0 + dy, x0 + dx]:
                rows.append((i, y0 + dy, x0 + dx, q, q / ch.gain * fraction[i]))
    cols = np.array(rows, dtype=[("hit", np.int64), ("y", np.int64), ("x", np.int64), ("charge", np.float64),
                                 ("dn", np.float64)])
    return hits, {name: cols[name].copy() for name in cols.dtype.names}


@dataclass(frozen=True)
class Aor:
    """The AOR: pointing, dithers, timing and the fixed sky of sources."""

    ra: float
    dec: float
    roll: float
    dithers: np.ndarray  # (nframes, 2) px
    delays: np.ndarray  # FRAMEDLY per frame [s]
    start: datetime
    sources: np.ndarray  # rows (ra, dec, flux mJy)

    def frame_starts(self, frame_time: float) -> list[datetime]:
        starts, t = [], self.start
        for k, delay in enumerate(self.delays):
            if k:
                t += timedelta(seconds=frame_time + float(delay))
            starts.append(t)
        return starts


def plan_aor(nframes: int, rng: np.random.Generator, sources: np.ndarray | None, dithers: np.ndarray | None,
             ra: float, dec: float, roll: float | None, date_obs: str) -> Aor:
    """Draw what the AOR needs (channel-independent: the same seed gives the same sky in every channel)."""
    roll_value = float(rng.uniform(0.0, 360.0)) if roll is None else float(roll)
    if dithers is None:
        drawn = rng.uniform(-DITHER_MAX, DITHER_MAX, (nframes, 2))
        drawn[0] = 0.0
    else:
        drawn = np.asarray(dithers, dtype=np.float64).reshape(-1, 2)
        if drawn.shape[0] != nframes:
            raise ValueError(f"dithers: {nframes} rows (dx, dy) needed, got {drawn.shape[0]}")
        rng.uniform(size=(nframes, 2))  # keep the later draws where they would be
    delays = np.round(rng.uniform(*SLEW_DELAY, nframes), 2)
    delays[0] = FIRST_FRAME_DELAY
    src = random_sources(rng) if sources is None else np.asarray(sources, dtype=np.float64).reshape(-1, 3)
    base = frame_wcs(ra, dec, roll_value)
    s_ra, s_dec = base.pixel_to_world_values(src[:, 0], src[:, 1])
    start = datetime.fromisoformat(date_obs)
    return Aor(float(ra) % 360.0, float(dec), roll_value, drawn, delays, start,
               np.column_stack([np.asarray(s_ra) % 360.0, s_dec, src[:, 2]]))


def simulate(out_dir: Path | str, channel: int = 1, frame_time: float = 12.0, naor_frames: int = 1,
             seed: int = 0, noiseless: bool = False, cosmic_rays: bool | None = None,
             cr_rate: float = CR_RATE, sky: float | None = None,
             sources: Sequence[Sequence[float]] | np.ndarray | None = None,
             dithers: Sequence[Sequence[float]] | np.ndarray | None = None,
             muxbleed: bool = True, pulldown: bool = True, jailbar: bool = True, firstframe: bool = True,
             aorkey: int = DEFAULT_AORKEY, ra: float = DEFAULT_RA, dec: float = DEFAULT_DEC,
             roll: float | None = None, date_obs: str = DEFAULT_DATE,
             detector_seed: int = det.DEFAULT_SEED) -> list[SimFiles]:
    """Write ``naor_frames`` dithered raw frames of one AOR and their truth into ``out_dir``.

    sky: uniform background [MJy/sr] (None: the channel's zodiacal default);
    sources: rows (x, y, flux mJy) in the undithered frame's 0-based pixels,
    None for a random field (~60 per frame, N(>S) ~ S^-0.5 over 0.01-100 mJy),
    [] for none; dithers: rows (dx, dy) [px] per frame, None for random (frame 0
    undithered); roll: ROLL_REF [deg], None to draw one; cosmic_rays defaults
    to ``not noiseless``; muxbleed (InSb only), pulldown, jailbar, firstframe
    switch the electronic effects.

    Truth (ASDF tree per frame):
      sky       [MJy/sr] true sky on this frame's pixels; bcd: the same array, what
                the BCD pipeline should output (flat-fielded, dark-free, artifact-free)
      rate      [DN/s] = sky / FLUXCONV x flat + dark current (float32; what the charge follows)
      charge_dn [DN per frame] M = D / N of the charge alone (before offsets and truncation)
      flat; dark [DN per frame] = the dark reference (dark current x EXPTIME + pattern)
      electronic [DN per frame] E = dark pattern + firstframe + muxbleed + pulldown + jailbar
      firstframe, muxbleed, pulldown [DN per frame] images injected; jailbar (4,) per output
      saturated, saturated_fallback (bool): a signal read clipped; and on the falling branch
      sources   (in this frame's reach) id, x, y, ra, dec, flux [mJy], flux_mjysr_px (MJy/sr summed
                over pixels); aor_sources: the whole AOR's sky (id, ra, dec, flux)
      radiation_hits: time, y, x, charge [e-], fraction, dn; radiation_pixels: hit, y, x, charge, dn
      parameters: every constant and choice of the forward model (see detector.py)
    """
    ch = det.channel(channel)
    ro = det.readout(frame_time)
    if not 1 <= int(naor_frames) <= 100000:
        raise ValueError(f"naor_frames must be 1..100000, got {naor_frames}")
    if not 0 < int(aorkey) < 10**9:
        raise ValueError(f"aorkey must be a positive integer below 1e9, got {aorkey}")
    sky_level = ch.sky_mjysr if sky is None else float(sky)
    if not (sky_level >= 0 and cr_rate >= 0):
        raise ValueError(f"need sky >= 0 and cr_rate >= 0 (got {sky_level}, {cr_rate})")
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"dec must be within -90..90 degrees, got {dec}")
    try:
        datetime.fromisoformat(date_obs)
    except ValueError as exc:
        raise ValueError(f"date_obs '{date_obs}' is not an ISO 8601 date") from exc
    cosmic_rays = (not noiseless) if cosmic_rays is None else bool(cosmic_rays)
    nframes = int(naor_frames)
    maps = det.detector_maps(ch.number, detector_seed)
    ft_maps = det.frame_time_maps(ch.number, ro.frame_time, detector_seed)
    aor = plan_aor(nframes, np.random.default_rng([seed, 0]),
                   None if sources is None else np.asarray(sources),
                   None if dithers is None else np.asarray(dithers), ra, dec, roll, date_obs)
    starts = aor.frame_starts(ro.frame_time)
    out_dir = Path(out_dir)
    written = []
    for k in range(nframes):
        written.append(_frame(out_dir, k, ch, ro, maps, ft_maps, aor, starts[k], seed, noiseless, cosmic_rays,
                              cr_rate, sky_level, muxbleed, pulldown, jailbar, firstframe, int(aorkey)))
    return written


def _frame(out_dir: Path, k: int, ch: Channel, ro: Readout, maps: DetectorMaps, ft_maps: det.FrameTimeMaps,
           aor: Aor, start: datetime, seed: int, noiseless: bool, cosmic_rays: bool, cr_rate: float,
           sky_level: float, muxbleed: bool, pulldown: bool, jailbar: bool, firstframe: bool,
           aorkey: int) -> SimFiles:
    rng_cr, rng_noise, rng_jail = (np.random.default_rng([seed, ch.number, k, i]) for i in (1, 2, 3))
    base = frame_wcs(aor.ra, aor.dec, aor.roll)
    centre = np.array(det.CRPIX) - 1.0 + aor.dithers[k]
    ra_ref, dec_ref = (float(v) for v in base.pixel_to_world_values(centre[0], centre[1]))
    ra_ref %= 360.0
    wcs = frame_wcs(ra_ref, dec_ref, aor.roll)

    # sky and rate
    sigma = ch.psf_sigma_px
    x, y = (np.asarray(v, dtype=np.float64) for v in wcs.world_to_pixel_values(aor.sources[:, 0],
                                                                               aor.sources[:, 1]))
    reach = 6 * sigma + 1
    here = (x > -reach) & (x < det.NPIX - 1 + reach) & (y > -reach) & (y < det.NPIX - 1 + reach)
    per_mjy = 1e-9 / det.PIXAR_SR  # MJy/sr summed over pixels, per mJy
    flux = aor.sources[:, 2]
    sky_image = sky_level + point_source_image(np.column_stack([x, y, flux * per_mjy])[here], sigma,
                                               (det.NPIX, det.NPIX))
    sky32 = sky_image.astype(np.float32)
    rate32 = (sky32 / np.float32(ch.fluxconv) * maps.flat + maps.dark_current).astype(np.float32)
    rate = rate32.astype(np.float64)

    # charge through the Fowler reads
    sensitive = maps.flat > 0
    if cosmic_rays:
        hits, pixels = draw_cosmic_rays(rng_cr, ch, ro, cr_rate, sensitive)
    else:
        hits, pixels = _no_hits()
    cr_list = []
    for i, t in enumerate(hits["time"]):
        mine = pixels["hit"] == i
        cr_list.append((float(t), pixels["y"][mine] * det.NPIX + pixels["x"][mine], pixels["charge"][mine]))
    readnoise_e = maps.readnoise_e(ro.frame_time)
    read_sigma = readnoise_e / ch.gain * math.sqrt(ro.fowler / 2.0)
    charge = fowler_reads(rate, maps.alpha.astype(np.float64), maps.saturation.astype(np.float64), ro,
                          ch.gain, read_sigma, None if noiseless else rng_noise, cr_list)
    m = charge.difference / ro.fowler

    # electronic offsets
    delay = float(aor.delays[k])
    draw = rng_jail.standard_normal(det.NOUTPUTS)
    ff_image = ft_maps.firstframe(delay) if firstframe else np.zeros(m.shape, np.float32)
    mux_image = det.muxbleed_image(m) if (muxbleed and ch.muxbleed) else np.zeros(m.shape)
    pull_image = det.pulldown_image(m, det.PULLDOWN_DN[ch.number]) if pulldown else np.zeros(m.shape)
    jail = det.jailbar(m, det.JAILBAR_DN[ch.number], draw) if jailbar else np.zeros(det.NOUTPUTS)
    electronic = (ft_maps.dark_offset.astype(np.float64) + ff_image + mux_image + pull_image
                  + jail[np.arange(det.NPIX) % det.NOUTPUTS][None, :]).astype(np.float32)
    # the offsets are in every read, so the on-board sum holds them as whole DN: rounding N*E here
    # (not leaving a fraction for the barrel-shift floor) keeps the truncation bias at 0.5 (1 - 2^-B)
    raw = det.encode(charge.difference + np.rint(ro.fowler * electronic.astype(np.float64)), ro, ch)

    stem = f"SPITZER_I{ch.number}_{aorkey}_{k:04d}_{k:04d}_0000"
    date_obs = start.isoformat(timespec="milliseconds")
    raw_path = _write_raw(raw, out_dir / f"{stem}_raw.fits", ch, ro, readnoise_e, aorkey, k, delay, date_obs,
                          ra_ref, dec_ref, aor.roll)
    ids = np.flatnonzero(here)
    parameters: dict[str, Any] = {
        "channel": ch.number, "detector": ch.detector, "material": ch.material,
        "wavelength_um": ch.wavelength_um,
        "detector_seed": maps.seed, "seed": int(seed), "noiseless": bool(noiseless),
        "frame_time": ro.frame_time, "exposure_time": ro.exposure_time, "fowler_number": ro.fowler,
        "wait_period": ro.wait, "barrel_shift": ro.barrel, "tick": det.TICK,
        "pedestal_times": ro.pedestal_times, "signal_times": ro.signal_times,
        "nonlinearity_time": ro.nonlinearity_time,
        "nonlinearity": "read = min(Q (1 + alpha Q), well); M = L + alpha (T_lin / Te) L^2 below saturation",
        "normalisation": "DN per frame = V * 2**ABARREL / AFOWLNUM + (2**ABARREL - 1) / (2 AFOWLNUM)",
        "normalisation_factor": ro.normalisation, "truncation_bias_dn": ro.truncation_bias,
        "sign_convention": "raw = 65535 - V" if ch.inverted else "raw = V", "inverted": ch.inverted,
        "wrap_threshold": det.WRAP_THRESHOLD, "adc_modulus": det.ADC_MODULUS,
        "gain": ch.gain, "readnoise_e": readnoise_e, "read_sigma_dn_per_read": read_sigma,
        "fluxconv": ch.fluxconv, "pixel_scale_arcsec": det.PIXEL_SCALE_ARCSEC, "pixar_sr": det.PIXAR_SR,
        "psf_fwhm_arcsec": ch.psf_fwhm_arcsec, "psf_sigma_px": sigma, "sky_background_mjysr": sky_level,
        "cosmic_rays": cosmic_rays, "cr_rate_cm2_s": float(cr_rate), "cr_median_charge": ch.cr_median_e,
        "cr_sigma_ln": CR_SIGMA_LN, "cr_sigma_px": ch.cr_sigma_px, "pixel_size_cm": det.PIXEL_SIZE_CM,
        "muxbleed": bool(muxbleed and ch.muxbleed), "muxbleed_coeffs": list(det.MUXBLEED_COEFFS),
        "muxbleed_threshold_dn": det.MUXBLEED_THRESHOLD_DN, "muxbleed_ref_dn": det.MUXBLEED_REF_DN,
        "muxbleed_order": "output x mod 4, pixel L = 64 y + x // 4, trail at L + n (n >= 1)",
        "pulldown": bool(pulldown), "pulldown_dn": det.PULLDOWN_DN[ch.number],
        "pulldown_threshold_dn": det.PULLDOWN_THRESHOLD_DN,
        "jailbar": bool(jailbar), "jailbar_dn": det.JAILBAR_DN[ch.number],
        "jailbar_threshold_dn": det.JAILBAR_THRESHOLD_DN, "jailbar_draw": draw,
        "firstframe": bool(firstframe), "firstframe_law": "a + b log10(FRAMEDLY / 1 s)",
        "frame_delay": delay, "aorkey": aorkey, "expid": k, "dcenum": k, "frame_index": k,
        "naor_frames": len(aor.delays), "date_obs": date_obs, "dither_px": aor.dithers[k].copy(),
        "ra_ref": ra_ref, "dec_ref": dec_ref, "roll_ref": aor.roll, "crpix": list(det.CRPIX),
        "aor_ra": aor.ra, "aor_dec": aor.dec, "raw_file": raw_path.name,
    }
    truth = {
        "sky": sky32, "bcd": sky32, "rate": rate32, "charge_dn": m.astype(np.float32),
        "flat": np.array(maps.flat), "dark": maps.dark(ro.frame_time),
        "electronic": electronic, "firstframe": np.asarray(ff_image, np.float32),
        "muxbleed": mux_image.astype(np.float32), "pulldown": pull_image.astype(np.float32),
        "jailbar": jail.astype(np.float64),
        "saturated": charge.saturated, "saturated_fallback": charge.fallback,
        "sources": {"id": ids, "x": x[here], "y": y[here], "ra": aor.sources[here, 0],
                    "dec": aor.sources[here, 1], "flux": flux[here], "flux_mjysr_px": flux[here] * per_mjy},
        "aor_sources": {"id": np.arange(len(flux)), "ra": aor.sources[:, 0].copy(),
                        "dec": aor.sources[:, 1].copy(), "flux": flux.copy()},
        "radiation_hits": hits, "radiation_pixels": pixels,
        "parameters": parameters,
    }
    sparse = ("sky", "muxbleed", "pulldown", "saturated", "saturated_fallback")  # compress ~95 %, cheaply
    return SimFiles(raw_path, write_tree_atomic(truth, out_dir / f"{stem}_truth.asdf", compress=sparse))


def _no_hits() -> tuple[dict, dict]:
    f, i = np.float64, np.int64
    return empty_tables({"time": f, "y": f, "x": f, "charge": f, "fraction": f, "dn": f},
                        {"hit": i, "y": i, "x": i, "charge": f, "dn": f})


def _write_raw(data: np.ndarray, path: Path, ch: Channel, ro: Readout, readnoise_e: float, aorkey: int,
               k: int, delay: float, date_obs: str, ra: float, dec: float, roll: float) -> Path:
    from calpipe.core.io import write_atomic

    from .models import IracRawModel

    raw = IracRawModel(data=data)
    meta = raw.meta
    meta.telescope = "Spitzer"
    meta.instrument.name = "IRAC"
    meta.instrument.detector = ch.detector
    meta.instrument.channel = str(ch.number)
    meta.observation.date_obs = date_obs
    meta.observation.program = "SPITZER"  # so Level 0 telemetry can tag it (visit = AORKEY)
    meta.observation.visit = str(aorkey)
    meta.observation.exposure = f"{k:04d}"
    ir = meta.irac
    ir.aorkey, ir.expid, ir.dcenum, ir.channel = aorkey, k, k, ch.number
    ir.frame_time, ir.exposure_time = ro.frame_time, ro.exposure_time
    ir.fowler_number, ir.wait_period, ir.barrel_shift = ro.fowler, ro.wait, ro.barrel
    ir.frame_delay = delay
    ir.fluxconv, ir.gain, ir.readnoise = ch.fluxconv, ch.gain, readnoise_e
    ir.creator = ""  # raw data: no pipeline has touched it
    ex = meta.exposure
    ex.exposure_time, ex.frame_time, ex.frame_divisor = ro.exposure_time, ro.frame_time, 2**ro.barrel
    sub = meta.subarray
    sub.name, sub.xstart, sub.ystart, sub.xsize, sub.ysize = "FULL", 1, 1, det.NPIX, det.NPIX
    meta.pointing.ra_ref, meta.pointing.dec_ref, meta.pointing.roll_ref = ra, dec, roll
    meta.bunit_data = "DN"
    return write_atomic(raw, path)



def run(args) -> int:
    """`calpipe sim irac`: simulate and print the paths written (raw, truth per frame)."""
    from calpipe.core.errors import UsageError

    try:
        files = simulate(args.output_dir, channel=args.channel, frame_time=args.frametime,
                         naor_frames=args.naor_frames, seed=args.seed, noiseless=args.noiseless,
                         cosmic_rays=False if args.no_cosmic_rays else None, sky=args.sky, aorkey=args.aorkey)
    except ValueError as exc:
        raise UsageError(f"calpipe sim irac: {exc}") from exc
    for f in files:
        print(f.raw)
        print(f.truth)
    return 0
