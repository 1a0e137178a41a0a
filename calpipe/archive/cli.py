"""`calpipe archive ...`: init, ingest, search, get, history, verify, upgrade, account, program, notify.

Who asks for data: ``--token TOKEN`` ($CALPIPE_ARCHIVE_TOKEN), ``--account NAME``
(password from $CALPIPE_ARCHIVE_PASSWORD, else prompted), ``--anonymous``, else
the archive's local operator (whoever runs commands on its own database).

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


def _credentials() -> argparse.ArgumentParser:
    creds = argparse.ArgumentParser(add_help=False)
    who = creds.add_mutually_exclusive_group()
    who.add_argument("--token", metavar="TOKEN", help="act as the account of this API token "
                                                       "(default: $CALPIPE_ARCHIVE_TOKEN)")
    who.add_argument("--account", metavar="NAME", help="act as this account; its password from "
                                                       "$CALPIPE_ARCHIVE_PASSWORD, else asked")
    who.add_argument("--anonymous", action="store_true", help="act as the public")
    return creds


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

    creds = _credentials()
    get = sub.add_parser("get", parents=[common, creds], help="retrieve one observation's product",
                         description="As archived (default), latest (newest releases and context; made "
                                     "on the fly and kept when missing) or pinned to a release; or every "
                                     "product of a notification's --manifest. Data still exclusive to their "
                                     "program are served only to its accounts: anything else is 'refused' "
                                     "(exit 2).")
    get.add_argument("obs_id", metavar="OBS_ID", nargs="?")
    get.add_argument("--manifest", type=Path, metavar="FILE", help="the manifest.json of a notification")
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
    _add_reprocess(sub, common)
    sub.add_parser("upgrade", parents=[common],
                   help="migrate the catalog to this calpipe's schema").set_defaults(func=_upgrade)
    _add_access_commands(sub, common, creds)


def _add_access_commands(sub, common, creds) -> None:
    acc = sub.add_parser("account", help="archive accounts (not proposal-system accounts)").add_subparsers(
        dest="account_command", required=True, metavar="ACTION")
    add = acc.add_parser("add", parents=[common], help="a new account; password from "
                                                       "$CALPIPE_ARCHIVE_PASSWORD, else asked")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--email")
    add.add_argument("--operator", action="store_true", help="an operator of the archive: sees all data")
    add.add_argument("--no-password", action="store_true", help="token access only")
    add.set_defaults(func=_account_add)
    pw = acc.add_parser("passwd", parents=[common], help="set an account's password")
    pw.add_argument("name", metavar="NAME")
    pw.set_defaults(func=_account_passwd)
    dis = acc.add_parser("disable", parents=[common], help="disable an account (its tokens stop working)")
    dis.add_argument("name", metavar="NAME")
    dis.set_defaults(func=_account_disable)
    acc.add_parser("list", parents=[common], help="accounts, roles, programs"
                   ).set_defaults(func=_account_list)
    tok = acc.add_parser("token", parents=[common], help="a new API token (shown once), or --revoke one")
    tok.add_argument("name", metavar="NAME", nargs="?")
    tok.add_argument("--days", type=int, default=90, help="lifetime in days (default 90)")
    tok.add_argument("--label")
    tok.add_argument("--revoke", metavar="TOKEN")
    tok.set_defaults(func=_account_token)

    prog = sub.add_parser("program", help="programs, their PI and exclusive-access period, grants"
                          ).add_subparsers(dest="program_command", required=True, metavar="ACTION")
    padd = prog.add_parser("add", parents=[common], help="a program (its PI may not have an account yet)")
    padd.add_argument("program", metavar="ID")
    padd.add_argument("--pi", metavar="ACCOUNT")
    padd.add_argument("--months", type=int, default=12,
                      help="exclusive-access period (default 12; 0 for calibration or public programs)")
    padd.set_defaults(func=_program_add)
    show = prog.add_parser("show", parents=[common], help="a program, its grants and release dates")
    show.add_argument("program", metavar="ID")
    show.set_defaults(func=_program_show)
    for name, func in (("grant", _program_grant), ("revoke", _program_revoke)):
        g = prog.add_parser(name, parents=[common, creds], help=f"{name} an account access to the program's "
                            "exclusive data (its PI or an operator)")
        g.add_argument("program", metavar="ID")
        g.add_argument("name", metavar="ACCOUNT")
        g.set_defaults(func=func)

    note = sub.add_parser("notify", help="mail subscribers about events (outbox, SMTP from archive.toml)"
                          ).add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    subs = note.add_parser("subscribe", parents=[common], help="mail an account about a program's events")
    subs.add_argument("name", metavar="ACCOUNT")
    subs.add_argument("program", metavar="PROGRAM")
    subs.add_argument("--daily", action="store_true", help="one digest a day instead of one mail per event")
    subs.set_defaults(func=_notify_subscribe)
    note.add_parser("send", parents=[common], help="release what is due, then mail what is queued; exit 1 "
                    "if the SMTP server refused or was unreachable (the mails stay queued)"
                    ).set_defaults(func=_notify_send)
    note.add_parser("status", parents=[common], help="queued and sent mails, retries and their errors (JSON)"
                    ).set_defaults(func=_notify_status)


def _add_reprocess(sub, common) -> None:
    rep = sub.add_parser("reprocess", help="bulk reprocessing: plan, start, status, pause, resume, cancel",
                         description="Reprocess what a new pipeline release or reference context affects. "
                                     "See the README, 'Bulk reprocessing'.")
    rsub = rep.add_subparsers(dest="reprocess_command", required=True, metavar="COMMAND")
    selection = argparse.ArgumentParser(add_help=False)
    which = selection.add_mutually_exclusive_group(required=True)
    which.add_argument("--pipeline", metavar="NAME@VERSION", help="the new release")
    which.add_argument("--context", type=int, metavar="N", help="the new reference context")
    selection.add_argument("--instrument")
    selection.add_argument("--program")
    selection.add_argument("--force", action="store_true",
                           help="plan even for a release that declares reprocess: none")
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=("table", "json"), default="table")
    plan = rsub.add_parser("plan", parents=[common, selection, fmt],
                           help="list the affected products and why; runs nothing")
    plan.set_defaults(func=_plan)
    start = rsub.add_parser("start", parents=[common, selection],
                            help="make the campaign from the plan (once) and run its queued jobs")
    _run_options(start)
    start.set_defaults(func=_start)
    for name, text in (("pause", "workers finish their current job and take no more"),
                       ("cancel", "queued jobs cancelled (done ones stay)"),
                       ("accept", "make a reviewable campaign's products current")):
        cmd = rsub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("campaign", type=int, metavar="ID")
        cmd.set_defaults(func=_control, action=name)
    for name, text in (("resume", "run a paused campaign again"),
                       ("retry-failed", "queue the failed jobs again, then run them")):
        cmd = rsub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("campaign", type=int, metavar="ID")
        _run_options(cmd)
        cmd.set_defaults(func=_control, action=name)
    st = rsub.add_parser("status", parents=[common, fmt], help="counts, throughput, ETA, failures, workers")
    st.add_argument("campaign", type=int, nargs="?", metavar="ID")
    st.set_defaults(func=_status)


def _run_options(cmd) -> None:
    cmd.add_argument("--executor", choices=("local", "dask"), default="local")
    cmd.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="with --executor dask: a running scheduler (default: a LocalCluster)")
    cmd.add_argument("-j", "--workers", type=int, default=2, metavar="N")
    cmd.add_argument("--max-attempts", type=int, default=3, metavar="N",
                     help="tries of a job that fails for infrastructure reasons (killed, timeout)")
    cmd.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds a job may run")
    cmd.add_argument("--accept", action="store_true",
                     help="make the results current as soon as every job finished (unattended runs)")


def _plan(args) -> int:
    import json

    from .bulk import plan

    found = plan(_open(args), args.pipeline, args.context, args.instrument, args.program, args.force)
    if args.format == "json":
        print(json.dumps({"target": found.target, "notes": found.notes,
                          "products": [vars(i) for i in found.items]}, indent=1))
        return 0
    for note in found.notes:
        print(note)
    for i in found.items:
        print(f"{i.obs_id}  product {i.product_id} -> {i.pipeline} {i.version} context {i.context}: {i.why}")
    print(f"{len(found.items)} product(s) to reprocess for {found.target}")
    return 0


def _execute(args, archive, campaign_id: int) -> int:
    from .executors import run_dask, run_local

    if args.scheduler and args.executor != "dask":
        from calpipe.core.errors import UsageError

        raise UsageError("--scheduler goes with --executor dask")
    if args.executor == "dask":
        state = run_dask(archive, campaign_id, args.scheduler, args.workers, args.accept)
    else:
        state = run_local(archive, campaign_id, args.workers, args.accept)
    _print_status(archive, campaign_id)
    return 0 if state in ("reviewable", "accepted") else 3 if state == "paused" else 0


def _start(args) -> int:
    from calpipe.core.cli.arguments import setup_logging

    from .bulk import open_campaign, plan

    setup_logging(quiet=True, verbose=False)
    archive = _open(args)
    found = plan(archive, args.pipeline, args.context, args.instrument, args.program, args.force)
    campaign, added = open_campaign(archive, found, args.max_attempts, args.timeout)
    print(f"campaign {campaign.id} ({campaign.target}): {added} new job(s)" if added else
          f"campaign {campaign.id} ({campaign.target}): already planned, {campaign.state}")
    if campaign.state != "running":
        _print_status(archive, campaign.id)
        return 0
    return _execute(args, archive, campaign.id)


def _control(args) -> int:
    from .bulk import accept, retry_failed, set_state

    archive = _open(args)
    if args.action == "pause":
        set_state(archive, args.campaign, "paused", "paused by the operator")
    elif args.action == "cancel":
        set_state(archive, args.campaign, "cancelled", "cancelled by the operator")
    elif args.action == "accept":
        print(f"campaign {args.campaign}: {accept(archive, args.campaign)} product(s) made current")
    else:
        if args.action == "retry-failed":
            queued = retry_failed(archive, args.campaign)
            print(f"campaign {args.campaign}: {queued} failed job(s) queued again")
        set_state(archive, args.campaign, "running", None)
        return _execute(args, archive, args.campaign)
    _print_status(archive, args.campaign)
    return 0


def _status(args) -> int:
    import json

    from .bulk import status

    found = status(_open(args), args.campaign)
    if args.format == "json":
        print(json.dumps(found, indent=1))
        return 0
    for c in found:
        _print_campaign(c)
    if not found:
        print("no bulk campaign yet")
    return 0


def _print_status(archive, campaign_id: int) -> None:
    from .bulk import status

    _print_campaign(status(archive, campaign_id)[0])


def _print_campaign(c: dict) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in c["counts"].items())
    rate = "-" if c["throughput_per_min"] is None else f"{c['throughput_per_min']} jobs/min"
    eta = "-" if c["eta_s"] is None else f"{c['eta_s']:.0f} s"
    print(f"campaign {c['campaign']} ({c['target']}): {c['state']}"
          + (f" ({c['message']})" if c["message"] else "") + f"; {c['jobs']} jobs: {counts}; "
          f"throughput {rate}; ETA {eta}")
    for f in c["failures"]:
        print(f"  failed x{f['jobs']}: {f['message']}")
    for w in c["workers"]:
        print(f"  worker {w['worker']}: job {w['job']} ({w['obs_id']}) since {w['since']}")


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
    archive = _open(args)
    who = _principal(archive, args)
    if args.manifest is not None:
        return _get_manifest(archive, args, who)
    if args.obs_id is None:
        raise UsageError("give OBS_ID or --manifest FILE")
    mode = "pinned" if args.pinned else args.mode or "as-archived"
    if args.context is not None and mode != "pinned":
        raise UsageError("--context goes with --pinned NAME@VERSION (--latest takes the newest context)")
    path, product, report = get(archive, args.obs_id, args.output_dir, mode, args.level, args.pinned,
                                args.context, who=who)
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


# -- access -----------------------------------------------------------------------------------
def _principal(archive, args):
    """--token, --account (password from the environment or asked), --anonymous, else local operator."""
    import getpass
    import os

    from . import access

    token = args.token or os.environ.get("CALPIPE_ARCHIVE_TOKEN")
    if args.anonymous:
        return access.Principal.anonymous()
    if args.account:
        password = os.environ.get("CALPIPE_ARCHIVE_PASSWORD") or getpass.getpass(f"{args.account} password: ")
        return access.authenticate(archive.db, archive.clock(), name=args.account, password=password)
    if token:
        return access.authenticate(archive.db, archive.clock(), token=token)
    return access.Principal.local_operator()


def _new_password(name: str) -> str:
    import getpass
    import os

    from calpipe.core.errors import UsageError

    given = os.environ.get("CALPIPE_ARCHIVE_PASSWORD")
    if given:
        return given
    first = getpass.getpass(f"new password for {name}: ")
    if first != getpass.getpass("again: "):
        raise UsageError(f"{name}: the two passwords differ; nothing changed")
    return first


def _get_manifest(archive, args, who) -> int:
    import json

    from calpipe.core.errors import InputDataError

    from .retrieve import get_manifest

    try:
        doc = json.loads(args.manifest.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{args.manifest}: not a readable JSON manifest ({exc})") from None
    for path, product in get_manifest(archive, doc, args.output_dir, who=who):
        print(f"{path}  ({product.state}; sha256 {product.sha256[:16]}…)")
    return 0


def _account_add(args) -> int:
    from . import access

    archive = _open(args)
    password = None if args.no_password else _new_password(args.name)
    with archive.db.write() as session:
        access.add_account(session, args.name, password, archive.clock(), email=args.email,
                           operator=args.operator)
    print(f"account {args.name} added" + (" (operator)" if args.operator else ""))
    return 0


def _account_passwd(args) -> int:
    from . import access

    archive = _open(args)
    password = _new_password(args.name)
    with archive.db.write() as session:
        found = access.account(session, args.name)
        found.password_hash, found.failed_logins, found.locked_until = access.hash_password(password), 0, None
    print(f"account {args.name}: password changed")
    return 0


def _account_disable(args) -> int:
    from . import access

    archive = _open(args)
    with archive.db.write() as session:
        access.account(session, args.name).disabled = True
    print(f"account {args.name} disabled (its tokens no longer work)")
    return 0


def _account_list(args) -> int:
    from sqlalchemy import select

    from .tables import Account, Grant, Program

    archive = _open(args)
    with archive.db.read() as session:
        for a in session.scalars(select(Account).order_by(Account.name)):
            pi = session.scalars(select(Program.id).where(Program.pi == a.name)).all()
            granted = session.scalars(select(Grant.program_id).where(Grant.account_id == a.id)).all()
            print(f"{a.name:<24} {'operator' if a.operator else 'user':<8} "
                  f"{'DISABLED' if a.disabled else 'active':<8} {a.email or '-':<28} PI of: "
                  f"{','.join(pi) or '-'}  granted: {','.join(granted) or '-'}")
    return 0


def _account_token(args) -> int:
    from calpipe.core.errors import UsageError

    from . import access

    archive = _open(args)
    with archive.db.write() as session:
        if args.revoke:
            if not access.revoke_token(session, args.revoke, archive.clock()):
                raise UsageError("--revoke: no such live token (already revoked, or never issued)")
            print("token revoked")
            return 0
        if not args.name:
            raise UsageError("give the account NAME (or --revoke TOKEN)")
        token = access.new_token(session, access.account(session, args.name), archive.clock(), args.days,
                                 args.label)
    print(token)
    return 0


def _program_add(args) -> int:
    from . import access

    archive = _open(args)
    with archive.db.write() as session:
        access.add_program(session, access.Principal.local_operator(), args.program, args.pi, args.months,
                           archive.clock())
    print(f"program {args.program}: PI {args.pi or '-'}, exclusive access {args.months} months")
    return 0


def _program_show(args) -> int:
    from sqlalchemy import func, select

    from calpipe.core.errors import UsageError

    from .tables import Account, Grant, Product, Program

    archive = _open(args)
    with archive.db.read() as session:
        program = session.get(Program, args.program)
        if program is None:
            raise UsageError(f"no program {args.program!r} (add it with `calpipe archive program add`)")
        grants = session.scalars(select(Account.name).join(Grant, Grant.account_id == Account.id)
                                 .where(Grant.program_id == program.id).order_by(Account.name)).all()
        first, last, count = session.execute(
            select(func.min(Product.release_at), func.max(Product.release_at), func.count())
            .where(Product.proposal_id == program.id)).one()
    print(f"program {program.id}: PI {program.pi or '-'}, exclusive access {program.months} months")
    print(f"  granted to: {', '.join(grants) or '-'}")
    print(f"  {count} product version(s); release dates {first or '-'} .. {last or '-'}")
    return 0


def _program_grant(args) -> int:
    from . import access

    archive = _open(args)
    who = _principal(archive, args)
    with archive.db.write() as session:
        access.grant(session, who, args.program, args.name, archive.clock())
    print(f"program {args.program}: granted to {args.name}")
    return 0


def _program_revoke(args) -> int:
    from . import access

    archive = _open(args)
    who = _principal(archive, args)
    with archive.db.write() as session:
        removed = access.revoke(session, who, args.program, args.name)
    print(f"program {args.program}: " + (f"grant to {args.name} revoked" if removed
                                         else f"{args.name} had no grant"))
    return 0


def _notify_subscribe(args) -> int:
    from . import access, notify

    archive = _open(args)
    with archive.db.write() as session:
        notify.subscribe(session, access.account(session, args.name), args.program,
                         notify.DAILY if args.daily else notify.IMMEDIATE)
    print(f"{args.name}: mailed about program {args.program} " + ("daily" if args.daily else "at once"))
    return 0


def _notify_send(args) -> int:
    from . import notify

    archive = _open(args)
    report = notify.send(archive, notify.SmtpConfig.load(archive.root))
    for line in report.errors:
        print(f"not sent (stays queued): {line}")
    print(f"notify: {report.fanned_out} deliveries queued, {report.sent} message(s) sent, "
          f"{report.failed} failed")
    return 1 if report.failed else 0


def _notify_status(args) -> int:
    import json

    from . import notify

    archive = _open(args)
    with archive.db.read() as session:
        print(json.dumps(notify.status(session), indent=1))
    return 0
