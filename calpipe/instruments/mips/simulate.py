"""MIPS simulator: the dithered raw DCEs of one AOR in one band, each with its truth.

`simulate(out_dir, band=24|70|160, nexp=N, seed=S)` chooses the simulator: simulate24.py
(24 um) or simulate_ge.py (70/160 um); what both share is in aor.py. The laws are in detector.py; the sky
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
  Cosmic rays: Poisson in time, cr_rate hits per pixel per second (MIPS Instrument Handbook: up to ~1 per
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

from pathlib import Path
from typing import Any

from . import detector as det
from .aor import SimFiles
from .simulate24 import simulate24
from .simulate_ge import simulate_ge


def simulate(out_dir: Path | str, band: int | str = 24, nexp: int = 4, seed: int = 0,
             **options) -> list[SimFiles]:
    """Write ``nexp`` science DCEs of one AOR in ``band`` (and their truth); see simulate24/simulate_ge."""
    b = det.band(band)
    return simulate_ge(out_dir, b.band, nexp, seed, **options) if b.is_ge else \
        simulate24(out_dir, nexp, seed, **options)


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
