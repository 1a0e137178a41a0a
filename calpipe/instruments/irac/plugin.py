"""Hook implementations of the irac instrument."""

from __future__ import annotations

from calpipe.core.hookspecs import Instrument, RefContent, RefSet, RefType, hookimpl, shipped_pipelines

# reftype -> (selection keywords, description); FRAMTIME is matched as text, e.g. "12.0"
REFTYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "mask": (("DETECTOR",), "bad-pixel mask (DQ)"),
    "dark": (("DETECTOR", "FRAMTIME"), "dark frame [DN per frame] at one frame time (dark current x EXPTIME "
                                       "+ electronic pattern)"),
    "firstframe": (("DETECTOR", "FRAMTIME"), "first-frame offset a + b log10(FRAMEDLY / 1 s) [DN per frame]: "
                                             "data (2, ny, nx) = [a, b]"),
    "linearity": (("DETECTOR",), "alpha [1/DN] of read = Q (1 + alpha Q), data (1, ny, nx); Fowler-aware: M "
                                 "= L + alpha (T_lin / EXPTIME) L^2, T_lin = EXPTIME + 0.2 (AFOWLNUM + 1) s"),
    "flat": (("DETECTOR",), "pixel-response flat field"),
    "fluxconv": (("DETECTOR",), "flux conversion: PHOTMJSR = FLUXCONV [MJy/sr per DN/s] and PIXAR_SR"),
}

# What each type's files hold (checked at refdata add/publish and before use), for every channel and
# frame time (darks reach ~100 DN per frame at 100 s on ch4); too narrow for a swap of types.
CONTENT = {
    "mask": RefContent(array="dq", absent=("data",)),
    "dark": RefContent(units=("DN",), median=(-50, 1e3), bounds=(-1e4, 1e6)),
    "firstframe": RefContent(planes=(2,), units=("DN",), median=(-100, 100), bounds=(-1e4, 1e4)),
    "linearity": RefContent(planes=(1,), bounds=(-1e-3, 1e-3)),
    "flat": RefContent(median=(0.5, 1.5), bounds=(0, 10)),
    "fluxconv": RefContent(frame=(1, 1), bounds=(1e-12, 1e12)),
}


@hookimpl
def calpipe_instruments():
    return [Instrument("irac", "Spitzer", "IRAC 3.6/4.5/5.8/8.0 um, 256x256 Fowler-sampled frames",
                       frames={"*": (256, 256)})]


@hookimpl
def calpipe_models():
    from .models import IracBcdModel, IracRawModel, IracReferenceModel

    return [IracRawModel, IracBcdModel, IracReferenceModel]


@hookimpl
def calpipe_steps():
    from .steps.step_classes import steps

    return steps()


@hookimpl
def calpipe_pipelines():
    return shipped_pipelines(__package__)


@hookimpl
def calpipe_reftypes():
    return [RefType("irac", name, selectors, text, CONTENT[name])
            for name, (selectors, text) in REFTYPES.items()]


@hookimpl
def calpipe_refsets():
    from .refs import build

    return [RefSet("irac", 3, build)]


@hookimpl
def calpipe_add_sim_commands(subparsers):
    from pathlib import Path

    from calpipe.core.cli.arguments import positive_int as positive

    # Values are checked by the simulator (exit 2 with the allowed ones): listing must not import numpy.
    sim = subparsers.add_parser(
        "irac", help="dithered raw IRAC frames of one AOR (uint16, Fowler-differenced) and their truth",
        description="Simulate the frames of one IRAC AOR through the detector model; writes "
                    "SPITZER_I<ch>_<AORKEY>_<EXPID>_<DCENUM>_0000_raw.fits and ..._truth.asdf per frame "
                    "and prints their paths.")
    sim.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    sim.add_argument("--channel", default="1", metavar="CH", help="1, 2 (InSb), 3 or 4 (Si:As) (default 1)")
    sim.add_argument("--frametime", default="12", metavar="S",
                     help="frame time: 0.6, 2, 12, 30 or 100 s (default 12)")
    sim.add_argument("--naor-frames", type=positive, default=1, metavar="N",
                     help="dithered frames in the AOR (default 1)")
    sim.add_argument("--seed", type=int, default=0,
                     help="seed of sky, dithers, noise and cosmic rays (default 0)")
    sim.add_argument("--noiseless", action="store_true",
                     help="no Poisson or read noise, no cosmic rays (electronic artifacts stay)")
    sim.add_argument("--no-cosmic-rays", action="store_true", help="leave cosmic rays out")
    sim.add_argument("--sky", type=float, default=None, metavar="MJY_SR",
                     help="uniform background [MJy/sr] (default: 0.2, 0.5, 2.5, 8.0 for channels 1-4)")
    sim.add_argument("--aorkey", type=positive, default=12345678, help="AORKEY (default 12345678)")
    sim.set_defaults(func=_sim)


def _sim(args) -> int:
    from .simulate import run

    return run(args)


@hookimpl
def calpipe_processing():
    from calpipe.core.hookspecs import Processing

    return [Processing("irac", ("irac_bcd",))]
