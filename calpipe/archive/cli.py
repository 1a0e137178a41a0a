"""`calpipe archive ...`: init, ingest, search, get, history, verify, upgrade.

Every command finds its archive by --archive DIR, else $CALPIPE_ARCHIVE, else
the current directory, and its catalog by --db URL, else $CALPIPE_ARCHIVE_DB,
else the SQLite file in the archive. Only argparse is imported here: listing
commands must stay fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from calpipe.core.hookspecs import hookimpl


def _cone(text: str) -> tuple[float, float, float]:
    try:
        ra, dec, radius = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RA,DEC,RADIUS in degrees, got '{text}'") from None
    if not (-90 <= dec <= 90 and 0 < radius <= 180):
        raise argparse.ArgumentTypeError(f"'{text}': DEC must be in [-90, 90] and RADIUS in (0, 180] deg")
    return ra, dec, radius


def _time(text: str) -> tuple[float | None, float | None]:
    """START/END as ISO dates or MJD numbers; either side may be empty."""
    from astropy.time import Time

    start, sep, end = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START/END (ISO time or MJD, either may be empty), got "
                                         f"'{text}'")

    def mjd(value: str) -> float | None:
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return float(Time(value, scale="utc").mjd)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is neither an ISO time nor an MJD") from None

    return mjd(start), mjd(end)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--archive", type=Path, metavar="DIR",
                        help="the archive directory (default: $CALPIPE_ARCHIVE, else the current directory)")
    common.add_argument("--db", metavar="URL",
                        help="catalog database URL, e.g. postgresql://user@host/name (default: "
                             "$CALPIPE_ARCHIVE_DB, else catalog.sqlite in the archive)")
    common.add_argument("--refdata", type=Path, metavar="DIR",
                        help="reference store (default: $CALPIPE_REFDATA or the user data directory)")
    return common


@hookimpl
def calpipe_add_commands(subparsers):
    common = _common()
    archive = subparsers.add_parser("archive", help="the archive: ingest downlinks, search, retrieve",
                                    description="A content-addressed store and a catalog of every product "
                                                "version. See the README, 'Archive'.")
    sub = archive.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", parents=[common], help="make a new archive directory (and its catalog)")
    init.add_argument("directory", type=Path, metavar="DIR")
    init.set_defaults(func=_init)

    ing = sub.add_parser("ingest", parents=[common], help="ingest telemetry files and Level 1 raw FITS",
                         description="Keep each file, find its exposures, extract the complete ones to "
                                     "Level 1 and process them to Level 2 (state sandbox). Incomplete "
                                     "exposures wait for a later downlink. Ingesting a file again changes "
                                     "nothing. Exit 3 if any file or exposure had a problem (the rest is "
                                     "ingested).")
    ing.add_argument("files", type=Path, nargs="+", metavar="FILE")
    ing.add_argument("--retry", action="store_true", help="run again what failed before")
    ing.set_defaults(func=_ingest)

    search = sub.add_parser("search", parents=[common], help="find product versions in the catalog")
    search.add_argument("--cone", type=_cone, metavar="RA,DEC,RADIUS", help="degrees (ICRS)")
    search.add_argument("--time", type=_time, metavar="START/END", help="ISO times or MJD; open ends allowed")
    search.add_argument("--instrument")
    search.add_argument("--program")
    search.add_argument("--level", type=int, choices=(1, 2, 3))
    search.add_argument("--state", action="append", metavar="STATE",
                        help="raw, sandbox, current, superseded, obsolete, on-demand, failed (repeatable; "
                             "default: every stored version)")
    search.add_argument("--pipeline", metavar="NAME[@VERSION]")
    search.add_argument("--limit", type=int, metavar="N")
    search.add_argument("--format", choices=("table", "csv", "json"), default="table")
    search.set_defaults(func=_search)

    get = sub.add_parser("get", parents=[common], help="retrieve one observation's product",
                         description="As archived (default), latest (newest releases and context; made "
                                     "on the fly and kept when missing) or pinned to a release.")
    get.add_argument("obs_id", metavar="OBS_ID")
    mode = get.add_mutually_exclusive_group()
    mode.add_argument("--as-archived", dest="mode", action="store_const", const="as-archived")
    mode.add_argument("--latest", dest="mode", action="store_const", const="latest")
    mode.add_argument("--pinned", metavar="NAME@VERSION")
    get.add_argument("--context", type=int, metavar="N", help="with --pinned: the reference context")
    get.add_argument("--level", type=int, choices=(1, 2, 3))
    get.add_argument("-o", "--output-dir", type=Path, required=True, metavar="DIR")
    get.set_defaults(func=_get)

    hist = sub.add_parser("history", parents=[common],
                          help="every version and state change of an observation")
    hist.add_argument("obs_id", metavar="OBS_ID")
    hist.set_defaults(func=_history)

    sub.add_parser("verify", parents=[common],
                   help="recompute every catalog row from its stored file; exit 3 on any difference"
                   ).set_defaults(func=_verify)
    sub.add_parser("upgrade", parents=[common],
                   help="migrate the catalog to this calpipe's schema").set_defaults(func=_upgrade)


def _open(args, check: bool = True):
    from .directory import Archive, find_root

    return Archive.open(find_root(args.archive), args.db, refdata=args.refdata, check=check)


def _init(args) -> int:
    from .directory import Archive

    archive = Archive.init(args.directory, args.db)
    print(f"{args.directory}: new archive, catalog {archive.db.where()}")
    return 0


def _ingest(args) -> int:
    from calpipe.core.cli.arguments import setup_logging

    from .ingest import ingest

    setup_logging(quiet=True, verbose=False)
    archive = _open(args)
    report = ingest(archive, args.files, retry_failed=args.retry)
    for line in report.lines:
        print(line)
    print(f"ingest: {len(report.registered)} files registered, {len(report.problems)} problems")
    return report.exit_code


def _search(args) -> int:
    import csv
    import json
    import sys

    from .catalog import columns, search

    archive = _open(args)
    with archive.db.read() as session:
        rows = columns(search(session, cone=args.cone, time=args.time, instrument=args.instrument,
                              program=args.program, level=args.level,
                              states=tuple(args.state) if args.state else None, pipeline=args.pipeline,
                              limit=args.limit))
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["obs_id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        shown = ("obs_id", "calib_level", "instrument_name", "pipeline", "pipeline_version", "context",
                 "state", "s_ra", "s_dec", "t_min")
        table = [[_cell(r[c]) for c in shown] for r in rows]
        widths = [max([len(c), *(len(t[i]) for t in table)]) for i, c in enumerate(shown)]
        print("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)))
        for t in table:
            print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))
        print(f"{len(rows)} product version(s)")
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def _get(args) -> int:
    from calpipe.core.cli.arguments import setup_logging
    from calpipe.core.errors import UsageError

    from .retrieve import get

    setup_logging(quiet=True, verbose=False)
    mode = "pinned" if args.pinned else args.mode or "as-archived"
    if args.context is not None and mode != "pinned":
        raise UsageError("--context goes with --pinned NAME@VERSION (--latest takes the newest context)")
    path, product, report = get(_open(args), args.obs_id, args.output_dir, mode, args.level, args.pinned,
                                args.context)
    for line in report.lines:
        print(line)
    print(f"{path}  ({product.state}; {product.pipeline or 'raw'} {product.pipeline_version} context "
          f"{product.context or '-'}; sha256 {product.sha256[:16]}…)")
    return 0


def _history(args) -> int:
    from .retrieve import history

    rows, log = history(_open(args), args.obs_id)
    print(f"{args.obs_id}: {len(rows)} version(s)")
    for p in rows:
        made = f"{p.pipeline} {p.pipeline_version} context {p.context}" if p.pipeline else "raw"
        print(f"  level {p.calib_level}  {p.state:<10} {p.filename}  {made}  run {p.run_id or '-'}  "
              f"sha256 {(p.sha256 or '-')[:16]}  {p.made_at:%Y-%m-%dT%H:%M:%S}"
              + (f"  ({p.message})" if p.message else ""))
    print("activity:")
    for a in log:
        change = f" {a.state_from or ''}->{a.state_to}" if a.state_to else ""
        print(f"  {a.at:%Y-%m-%dT%H:%M:%S}  {a.who}  {a.what}{change}: {a.why}")
    return 0


def _verify(args) -> int:
    from .catalog import verify

    checked, problems = verify(_open(args))
    for line in problems:
        print(line)
    print(f"verify: {checked} rows checked, {len(problems)} differences")
    return 3 if problems else 0


def _upgrade(args) -> int:
    archive = _open(args, check=False)
    before, after = archive.db.upgrade()
    print(f"{archive.db.where()}: schema {before} -> {after}" if before != after
          else f"{archive.db.where()}: schema {after}, up to date")
    return 0
