"""Hook implementations of the mips instrument (Spitzer MIPS 24, 70 and 160 um)."""

from __future__ import annotations

from calpipe.core.hookspecs import Instrument, RefContent, RefSet, RefType, hookimpl, shipped_pipelines

# reftype -> (selection keywords, description); every MIPS type is chosen by DETECTOR (MIPS24/70/160)
REFTYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "mask": (("DETECTOR",), "bad-pixel mask (DQ)"),
    "saturation": (("DETECTOR",), "24 um: well [measured DN above the reset]; Ge: threshold per read "
                                  "[raw DN, bias included]"),
    "linearity": (("DETECTOR",), "24 um: alpha [1/DN] of read = Q (1 + alpha Q), data (1, ny, nx); Ge: "
                                 "coefficients of Q = sum c_k F^k, data (ncoeff, ny, nx)"),
    "droop": (("DETECTOR",), "24 um droop coefficient c: every pixel sees c x the array's mean signal"),
    "dark": (("DETECTOR",), "dark rate [DN/s]"),
    "flat": (("DETECTOR",), "24 um flat cube (one plane per scan-mirror position, CSMPOS table)"),
    "superbias": (("DETECTOR",), "Ge reset level [DN]"),
    "gain": (("DETECTOR",), "Ge gain [e-/DN]"),
    "readnoise": (("DETECTOR",), "Ge read noise of one read [DN]"),
    "illumination": (("DETECTOR",), "Ge illumination correction 1 / (stim brightness x pattern) [1/MIU]"),
    "photom": (("DETECTOR",), "flux conversion PHOTMJSR (24 um: MJy/sr per DN/s; Ge: per MIU), PIXAR_SR"),
    # one file for every array: a run's references are chosen by its first member, and mips_postbcd
    # measures the 24 and 70 um mosaics of one AOR in one run
    "psf": ((), "optical PSF of each array, data (3, n, n) for MIPS24, MIPS70, MIPS160, PSFOVERS samples "
                "per detector pixel (PIXSCALE table, arcsec)"),
}

# What each type's files hold (checked at refdata add/publish and before use), for 24 um and the Ge
# arrays alike (the 24 um flat is a cube, one plane per scan-mirror position).
CONTENT = {
    "mask": RefContent(array="dq", absent=("data",)),
    "saturation": RefContent(units=("DN",), median=(1e3, 1e6), bounds=(0, 1e7)),
    "linearity": RefContent(planes=(None,), bounds=(-10, 10)),
    "droop": RefContent(median=(0, 0.9), bounds=(0, 1)),
    "dark": RefContent(units=("DN/s",), median=(-10, 100), bounds=(-1e4, 1e5)),
    "flat": RefContent(planes=(None,), median=(0.5, 1.5), bounds=(0, 10)),
    "superbias": RefContent(units=("DN",), median=(100, 65535), bounds=(-1e5, 1e5)),
    "gain": RefContent(units=("electron/DN", "e-/DN"), median=(0.1, 100), bounds=(0, 1e3)),
    "readnoise": RefContent(units=("DN",), median=(0.1, 1e3), bounds=(0, 1e5)),
    "illumination": RefContent(median=(1e-3, 1e3), bounds=(0, 1e6)),
    "photom": RefContent(frame=(1, 1), bounds=(1e-12, 1e12)),
    # three unit-sum planes (MIPS24, MIPS70, MIPS160), ±8 detector pixels at 8 samples each (refs.py)
    "psf": RefContent(planes=(3,), frame=(129, 129), median=(0, 0.01), bounds=(0, 1)),
}


@hookimpl
def calpipe_instruments():
    return [Instrument("mips", "Spitzer", "MIPS 24 um Si:As (128x128 slopes), 70 and 160 um Ge:Ga ramps",
                       frames={"MIPS24": (128, 128), "MIPS70": (32, 32), "MIPS160": (2, 20)})]


@hookimpl
def calpipe_models():
    from .models import Mips24RawModel, MipsBcdModel, MipsGeRampModel, MipsGeRawModel, MipsReferenceModel

    return [Mips24RawModel, MipsGeRawModel, MipsGeRampModel, MipsBcdModel, MipsReferenceModel]


@hookimpl
def calpipe_steps():
    from .steps.step_classes import steps

    return steps()


@hookimpl
def calpipe_pipelines():
    return shipped_pipelines(__package__)


@hookimpl
def calpipe_reftypes():
    return [RefType("mips", name, selectors, text, CONTENT[name])
            for name, (selectors, text) in REFTYPES.items()]


@hookimpl
def calpipe_refsets():
    from .refs import build, build_psf

    return [RefSet("mips", 4, build), RefSet("mips-psf", 5, build_psf)]


@hookimpl
def calpipe_add_sim_commands(subparsers):
    from pathlib import Path

    from calpipe.core.cli.arguments import positive_int as positive

    # Values are checked by the simulator (exit 2 with the allowed ones): listing must not import numpy.
    sim = subparsers.add_parser(
        "mips", help="dithered raw MIPS DCEs of one AOR (24 um slopes or 70/160 um ramps) and their truth",
        description="Simulate the science DCEs of one MIPS AOR in one band; writes "
                    "SPITZER_M<1|2|3>_<AORKEY>_<EXPID>_<DCENUM>_0000_raw.fits and ..._truth.asdf per DCE "
                    "and prints their paths. The same seed gives the same sky in every band.")
    sim.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    sim.add_argument("--band", default="24", metavar="UM", help="24, 70 or 160 (default 24)")
    sim.add_argument("--nexp", type=positive, default=None, metavar="N",
                     help="science DCEs in the AOR (default 4 at 24 um, 8 at 70/160 um)")
    sim.add_argument("--seed", type=int, default=0, help="seed of sky, dithers, noise and cosmic rays "
                     "(default 0)")
    sim.add_argument("--mips-seconds", type=int, default=None, metavar="S",
                     help="exposure: 3, 10 or 30 (24 um, default 10); 3, 4 or 10 (Ge, default 3)")
    sim.add_argument("--noiseless", action="store_true",
                     help="no Poisson or read noise, no cosmic rays (instrument effects stay)")
    sim.add_argument("--no-cosmic-rays", action="store_true", help="leave cosmic rays out")
    sim.add_argument("--sky", type=float, default=None, metavar="MJY_SR",
                     help="uniform background [MJy/sr] (default 20, 8, 15 at 24, 70, 160 um)")
    sim.add_argument("--aorkey", type=positive, default=23456789, help="AORKEY (default 23456789)")
    sim.set_defaults(func=_sim)


def _sim(args) -> int:
    from .simulate import run

    return run(args)


@hookimpl
def calpipe_processing():
    from calpipe.core.hookspecs import Processing

    return [Processing("mips", (f"mips{band}_bcd",), (("DETECTOR", f"MIPS{band}"),))
            for band in (24, 70, 160)]
