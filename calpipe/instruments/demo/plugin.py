"""Hook implementations of the demo instrument."""

from __future__ import annotations

from pathlib import Path

from calpipe.core.hookspecs import Instrument, RefContent, RefSet, RefType, hookimpl


@hookimpl
def calpipe_instruments():
    return [Instrument("demo", "none", "synthetic 128x128 imager for the quickstart and tests",
                       frames={"*": (128, 128)})]


@hookimpl
def calpipe_reftypes():
    return [RefType("demo", "mask", ("DETECTOR",), "bad-pixel mask",
                    RefContent(array="dq", absent=("data",))),
            RefType("demo", "flat", ("DETECTOR",), "pixel-response flat field",
                    RefContent(median=(0.1, 10), bounds=(0, 100)))]  # tests try flats of 2, ...


@hookimpl
def calpipe_refsets():
    from .refs import build

    return [RefSet("demo", 1, build)]


@hookimpl
def calpipe_add_commands(subparsers):
    demo = subparsers.add_parser("demo", help="write demo data and calibrate it (no network)")
    demo.add_argument("-o", "--output-dir", type=Path, default=Path("demo_out"))
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulated sky and noise")
    demo.add_argument("--refdata", type=Path,
                      help="reference store (default: $CALPIPE_REFDATA or the user data directory)")
    demo.set_defaults(func=_run)


def _run(args) -> int:
    from .simulate import run_demo

    return run_demo(args.output_dir, args.seed, args.refdata)
