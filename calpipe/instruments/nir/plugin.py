"""Hook implementations of the nir instrument."""

from __future__ import annotations

from calpipe.core.hookspecs import (
    Instrument,
    RefContent,
    ReferencePixels,
    RefSet,
    RefType,
    hookimpl,
    shipped_pipelines,
)

REFTYPES = {
    "mask": "bad-pixel mask (DQ)",
    "saturation": "saturation threshold per pixel [DN, bias included]",
    "superbias": "bias level per pixel [DN]",
    "linearity": "polynomial coefficients c_k (k = 0..n-1) giving linear counts from measured ones",
    "dark": "dark current per pixel [DN/s]",
    "gain": "gain per pixel [e-/DN]",
    "readnoise": "read noise of a single frame per pixel [DN]",
    "flat": "pixel-response flat field",
    "photom": "flux conversion: PHOTMJSR [MJy/sr per DN/s] and PIXAR_SR",
}

# What each type's files hold (checked at refdata add/publish and before use): DN-scale maps, a flat
# near 1, a dark rate near 0 DN/s; ranges wide enough for any HgCdTe detector, too narrow for a swap.
CONTENT = {
    "mask": RefContent(array="dq", absent=("data",)),
    "saturation": RefContent(units=("DN",), median=(1e3, 1e6), bounds=(0, 1e7)),
    "superbias": RefContent(units=("DN",), median=(100, 65535), bounds=(-1e5, 1e5)),
    "linearity": RefContent(planes=(None,), bounds=(-10, 10)),
    "dark": RefContent(units=("DN/s",), median=(-0.5, 0.5), bounds=(-1e4, 1e5)),
    "gain": RefContent(units=("electron/DN", "e-/DN"), median=(0.1, 100), bounds=(0, 1e3)),
    "readnoise": RefContent(units=("DN",), median=(0.1, 1e3), bounds=(0, 1e5)),
    "flat": RefContent(median=(0.5, 1.5), bounds=(0, 10)),
    "photom": RefContent(frame=(1, 1), bounds=(1e-12, 1e12)),
}


@hookimpl
def calpipe_instruments():
    from .geometry import AMP_WIDTH, FULL, NREF

    return [Instrument("nir", "JWST-like", "HgCdTe 2048x2048 near-infrared detectors, MULTIACCUM ramps",
                       ReferencePixels(frame=(FULL, FULL), border=NREF, amp_width=AMP_WIDTH),
                       frames={"*": (FULL, FULL)}, subarrays=True)]


@hookimpl
def calpipe_pipelines():
    return shipped_pipelines(__package__)


@hookimpl
def calpipe_reftypes():
    return [RefType("nir", name, ("DETECTOR",), text, CONTENT[name]) for name, text in REFTYPES.items()]


@hookimpl
def calpipe_refsets():
    from .refs import build

    return [RefSet("nir", 2, build)]


@hookimpl
def calpipe_add_sim_commands(subparsers):
    from pathlib import Path

    from calpipe.core.cli.arguments import positive_int as positive

    # Values are checked by the simulator (exit 2 with the allowed ones): listing must not import numpy.
    sim = subparsers.add_parser(
        "nir", help="a raw MULTIACCUM exposure (uint16 ramps) and its truth",
        description="Simulate a nir exposure through the detector model; writes "
                    "nir_<program>_<visit>_<exposure>_uncal.fits and ..._truth.asdf and prints their paths.")
    sim.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    sim.add_argument("--readpatt", default="MEDIUM8", metavar="PATTERN",
                     help="RAPID, BRIGHT1, BRIGHT2, SHALLOW2, SHALLOW4, MEDIUM2, MEDIUM8, DEEP2 or DEEP8 "
                          "(default MEDIUM8)")
    sim.add_argument("--ngroups", type=positive, default=10, help="groups per integration (default 10)")
    sim.add_argument("--nints", type=positive, default=1, help="integrations (default 1)")
    sim.add_argument("--subarray", default="256", metavar="SIZE",
                     help="FULL, or the side of a centred square subarray without reference pixels "
                          "(default 256)")
    sim.add_argument("--seed", type=int, default=0, help="seed of sky, noise and cosmic rays (default 0)")
    sim.add_argument("--noiseless", action="store_true",
                     help="no Poisson or read noise, no reference drift, no cosmic rays")
    sim.add_argument("--no-cosmic-rays", action="store_true", help="leave cosmic rays out")
    sim.add_argument("--sky", type=float, default=0.2, help="uniform background [MJy/sr] (default 0.2)")
    sim.add_argument("--ndither", type=positive, default=1, metavar="N",
                     help="N exposures of one field at dithered pointings, for Level 3 (default 1)")
    sim.add_argument("--program", default="00001")
    sim.add_argument("--visit", default="001")
    sim.add_argument("--exposure", default="00001")
    sim.set_defaults(func=_sim)


def _sim(args) -> int:
    from .simulate import run

    return run(args)


@hookimpl
def calpipe_processing():
    from calpipe.core.hookspecs import Processing

    return [Processing("nir", ("nir_detector1", "nir_image2"))]
