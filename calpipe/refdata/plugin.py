"""Hooks that plug the reference-data system into the runner and the `calpipe` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calpipe.core.cli.arguments import directory
from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_ref_resolver(pipeline, context, store, overrides, registry):
    from .resolver import ContextResolver
    from .store import Store, default_root

    number = context if context is not None else pipeline.refdata
    return ContextResolver(Store(default_root(store)), number, overrides, registry)


@hookimpl
def calpipe_add_commands(subparsers):
    ref = subparsers.add_parser("refdata", help="reference data: contexts, selection, publishing")
    ref.add_argument("--refdata", type=directory, metavar="DIR",
                     help="reference store (default: $CALPIPE_REFDATA or the user data directory)")
    sub = ref.add_subparsers(dest="refdata_command", required=True, metavar="COMMAND")
    store = argparse.ArgumentParser(add_help=False)  # --refdata is taken after the subcommand too
    store.add_argument("--refdata", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                       help="reference store (as before the subcommand)")
    init = sub.add_parser("init", parents=[store],
                          help="build and publish the built-in reference contexts")
    init.add_argument("--upto", type=int, metavar="N", help="only the built-in contexts up to number N")
    init.add_argument("--repair", action="store_true",
                      help="also rebuild built-in reference files missing from the store (checked by hash)")
    init.set_defaults(func=_init)
    sub.add_parser("list", parents=[store], help="published contexts").set_defaults(func=_list)
    sub.add_parser("du", parents=[store],
                   help="where the reference store is and how much disk it uses").set_defaults(func=_du)
    show = sub.add_parser("show", parents=[store], help="the rules of one context")
    show.add_argument("context", type=int)
    show.set_defaults(func=_show)
    best = sub.add_parser("bestref", parents=[store],
                          help="the file chosen per reference type for a product, and why")
    best.add_argument("product", type=Path)
    best.add_argument("--context", type=int, help="context number (default: the latest)")
    best.set_defaults(func=_bestref)
    add = sub.add_parser("add", parents=[store], help="stage reference files for the next context")
    add.add_argument("files", type=Path, nargs="+")
    add.set_defaults(func=_add)
    sub.add_parser("unstage", parents=[store], help="forget the staged files").set_defaults(func=_unstage)
    pub = sub.add_parser("publish", parents=[store], help="publish the staged files as a new context")
    pub.add_argument("--rationale", required=True, help="why this context exists")
    pub.add_argument("--author", help="who publishes it (default: your login name)")
    pub.set_defaults(func=_publish)
    dif = sub.add_parser("diff", parents=[store],
                         help="rules and files that changed between two contexts")
    dif.add_argument("a", type=int)
    dif.add_argument("b", type=int)
    dif.set_defaults(func=_diff)
    aff = sub.add_parser("affected", parents=[store],
                         help="observations whose reference files change from A to B")
    aff.add_argument("a", type=int)
    aff.add_argument("b", type=int)
    aff.add_argument("--catalog", type=Path, required=True,
                     help="CSV: dataset, pipeline, INSTRUME, DATE-OBS and selection keywords")
    aff.add_argument("-o", "--output", type=Path, help="write the affected list as CSV here")
    aff.set_defaults(func=_affected)


def _store(args):
    from .store import Store, default_root

    return Store(default_root(args.refdata))


def _registry():
    from calpipe.core.registry import get_registry

    return get_registry()


def _init(args) -> int:
    from .builtin import init, megabytes, repair

    store = _store(args)
    if args.repair:
        restored = repair(store, _registry())
        print(f"{store.root}: " + (f"rebuilt {len(restored)} missing built-in file(s): {', '.join(restored)}"
                                   if restored else "no built-in reference file is missing"))
    new = init(store, _registry(), args.upto)
    print(f"{store.root}: " + (", ".join(f"published context {c.name} ({c.rationale})" for c in new)
                               or f"up to date (contexts {', '.join(map(str, store.context_numbers()))})"))
    usage = store.usage()
    print(f"{store.root}: {usage['files']} reference files, {megabytes(usage['total'])} "
          "(`calpipe refdata du`; --refdata DIR or $CALPIPE_REFDATA to keep it elsewhere)")
    return 0


def _du(args) -> int:
    from .builtin import megabytes

    store = _store(args)
    usage = store.usage()
    print(f"{store.root}: {megabytes(usage.pop('total'))} in {usage.pop('files')} reference files")
    for instrument, size in usage.items():
        print(f"  {instrument:<10} {megabytes(size):>8}")
    return 0


def _list(args) -> int:
    store = _store(args)
    for number in store.context_numbers():
        ctx = store.load(number)
        print(f"{ctx.name}  {ctx.created}  {len(ctx.files()):>4} files  "
              f"{'built-in  ' if ctx.builtin else ''}{ctx.rationale}")
    if not store.context_numbers():
        print(f"{store.root}: no contexts yet (`calpipe refdata init`)")
    return 0


def _show(args) -> int:
    ctx = _store(args).load(args.context)
    print(f"context {ctx.name} (parent {ctx.parent}), {ctx.created}, by {ctx.author or '?'}: {ctx.rationale}")
    for (instrument, reftype), t in sorted(ctx.types.items()):
        print(f"  {instrument}/{reftype}  selected by {', '.join(t.selectors) or 'date only'}")
        for r in sorted(t.rules, key=lambda r: (r.useafter, r.name)):
            keys = " ".join(f"{k}={v}" for k, v in r.select)
            print(f"    {r.useafter}  {keys:<30} {r.name}  {r.sha256[:16]}…")
    return 0


def _bestref(args) -> int:
    from calpipe.core.io import open_product

    from .resolver import ContextResolver

    product = open_product(args.product)
    resolver = ContextResolver(_store(args), args.context, {}, _registry())
    instrument = (product.meta.instrument.name or "").lower()
    types = sorted(t for i, t in resolver.loaded.types if i == instrument)
    if not types and resolver.grow_latest():  # the latest context, before its built-in set was built
        types = sorted(t for i, t in resolver.loaded.types if i == instrument)
    if not types:
        from calpipe.core.errors import RefDataError

        covered = ", ".join(sorted({i for i, _ in resolver.loaded.types})) or "none"
        raise RefDataError(f"{args.product}: context {resolver.loaded.name} has no reference files for "
                           f"instrument {instrument or '?'} (it covers: {covered}); pass --context N of "
                           "a context that does")
    print(f"{args.product.name}: context {resolver.loaded.name}, instrument {instrument or '?'}")
    failures = 0
    for reftype in types:
        try:
            choice, values, date = resolver.choose(reftype, product)
            print(f"  {reftype:<10} {choice.rule.name}  ({choice.why(values, date)})")
        except Exception as exc:  # one type failing must not hide the others
            failures += 1
            print(f"  {reftype:<10} NONE  ({exc})")
    return 4 if failures else 0


def _add(args) -> int:
    store = _store(args)
    for path in args.files:
        entry = store.add(path, _registry().reftypes)
        print(f"staged {entry['name']} as {entry['instrument']}/{entry['reftype']} "
              f"({entry['sha256'][:16]}…, use after {entry['useafter']})")
    return 0


def _unstage(args) -> int:
    dropped = _store(args).unstage()
    print(f"unstaged {len(dropped)} file(s)" + "".join(f"\n  {e['name']}" for e in dropped))
    return 0


def _publish(args) -> int:
    ctx = _store(args).publish(args.rationale, args.author or _login_name(), _registry().reftypes)
    print(f"published context {ctx.name}: {len(ctx.files())} files")
    return 0


def _login_name() -> str:
    """Who is publishing, when --author is not given; refuses rather than record nobody."""
    import getpass

    from calpipe.core.errors import UsageError

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    if not name.strip():
        raise UsageError("publish: no --author given and no login name to use; pass --author NAME")
    return name


def _diff(args) -> int:
    from .context import diff

    store = _store(args)
    changes = diff(store.load(args.a), store.load(args.b))
    for c in changes:
        note = "  (selectors changed)" if c.selectors_changed else ""
        print(f"{c.instrument}/{c.reftype}{note}")
        for r in c.removed:
            print(f"  - {r.describe()}")
        for r in c.added:
            print(f"  + {r.describe()}")
    if not changes:
        print(f"contexts {args.a} and {args.b} select the same files")
    return 0


def _write_csv_atomic(path: Path, rows) -> None:
    """Rows to ``path`` through a temp file and a rename: a failure leaves no half-written list."""
    import csv

    from calpipe.core.io import output_error, write_text_atomic

    try:
        write_text_atomic(Path(path), lambda f: csv.writer(f).writerows(rows), newline="")
    except OSError as exc:
        raise output_error(exc, Path(path).parent) from None


def _affected(args) -> int:
    import functools

    from calpipe.core.pipeline import resolve

    from .affected import affected, read_catalog

    store = _store(args)
    a, b = store.load(args.a), store.load(args.b)
    every_type = tuple(sorted({t for _, t in (*a.types, *b.types)}))

    @functools.cache
    def reftypes_of(pipeline: str) -> tuple[str, ...]:
        return tuple(resolve(pipeline, _registry()).reftypes()) if pipeline else every_type

    rows = read_catalog(args.catalog)
    found = affected(a, b, rows, reftypes_of)
    datasets = {f.dataset for f in found}
    if args.output:
        _write_csv_atomic(args.output, [("dataset", "reftype", "old", "new"),
                                        *((x.dataset, x.reftype, x.old or "", x.new or "") for x in found)])
    else:
        for x in found:
            print(f"{x.dataset}  {x.reftype}  {x.old} -> {x.new}")
    by_type: dict[str, int] = {}
    for x in found:
        by_type[x.reftype] = by_type.get(x.reftype, 0) + 1
    print(f"{len(datasets)} of {len(rows)} observations affected from context {args.a} to {args.b}"
          + (f" ({', '.join(f'{t}: {n}' for t, n in sorted(by_type.items()))})" if by_type else ""),
          file=sys.stderr)
    return 0
