"""Hooks of the level0 plugin: `calpipe sim telemetry` and `calpipe level0 extract`.

Only argparse is imported here: listing commands must not load numpy or ccsdspy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from calpipe.core.hookspecs import hookimpl


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got '{text}'")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


@hookimpl
def calpipe_add_sim_commands(subparsers):
    sim = subparsers.add_parser(
        "telemetry", help="Level 0 telemetry (CCSDS packets) from Level 1 raw products, with faults",
        description="Turn raw products of any instrument into CCSDS telemetry files: science, header and "
                    "housekeeping packets interleaved in time, cut into files; optionally lose, duplicate "
                    "or corrupt science packets and shuffle the files. Writes tlm_NNNN.pkt and "
                    "downlink_truth.json (what was done) and prints their paths, files in stream order.")
    sim.add_argument("raw", type=Path, nargs="+", metavar="RAW",
                     help="Level 1 raw products, in observing order")
    sim.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    sim.add_argument("--files", type=_positive, default=1, metavar="N",
                     help="cut the stream into N files of about equal packet counts (default 1)")
    sim.add_argument("--seed", type=int, default=0, help="seed of housekeeping values and faults (default 0)")
    sim.add_argument("--drop", type=_count, default=0, metavar="K", help="lose K science packets")
    sim.add_argument("--duplicate", type=_count, default=0, metavar="K", help="send K science packets twice")
    sim.add_argument("--corrupt", type=_count, default=0, metavar="K",
                     help="flip one bit in the data of K science packets (their CRC then fails)")
    sim.add_argument("--shuffle", action="store_true",
                     help="number the files out of stream order (delivered out of order)")
    sim.add_argument("--segment-bytes", type=_positive, default=4096, metavar="N",
                     help="array (or header) bytes per packet (default 4096)")
    sim.set_defaults(func=_sim)


@hookimpl
def calpipe_add_commands(subparsers):
    level0 = subparsers.add_parser("level0", help="telemetry (Level 0) to raw products (Level 1)")
    sub = level0.add_subparsers(dest="level0_command", required=True, metavar="COMMAND")
    ext = sub.add_parser(
        "extract", help="write the exposures of a tag found in telemetry files as raw products",
        description="Select the packets of --tag across the files (any order), reassemble each exposure, "
                    "attach its housekeeping and write it under the name it was sent with (FILENAME; else "
                    "<instrument>_<program>_<visit>_<exposure>_uncal.fits). "
                    "Rejected, duplicated and lost packets are reported; an exposure with lost packets is "
                    "written only with --allow-partial (exit 3 otherwise).",
        epilog="Tags per instrument (the raw header's PROGRAM:VISIT:EXPOSURE): nir PROGRAM:VISIT:EXPOSURE, "
               "e.g. 00001:001:00001; irac and mips SPITZER:AORKEY:EXPID, e.g. SPITZER:12345678:0003 "
               "(an AOR: SPITZER:12345678). All-digit parts match by value (1:1 = 00001:001).")
    ext.add_argument("files", type=Path, nargs="+", metavar="FILE", help="telemetry files, in any order")
    ext.add_argument("--tag", required=True, metavar="PROGRAM[:VISIT[:EXPOSURE]]",
                     help="exposures to extract, e.g. 00001 (a program), 00001:001 or 00001:001:00001")
    ext.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    ext.add_argument("--allow-partial", action="store_true",
                     help="also write exposures with lost packets (PIXELDQ DROPOUT, PARTIAL = T)")
    ext.set_defaults(func=_extract)


def _sim(args) -> int:
    from .downlink import run

    return run(args)


def _extract(args) -> int:
    from .extract import run

    return run(args)
