"""`calpipe reproduce` and `calpipe reprocess`, added through the command hook."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from calpipe.core import provenance
from calpipe.core.hookspecs import hookimpl

EXIT_DIFFERENT = 5  # reproduced, but not bit for bit


@hookimpl
def calpipe_add_commands(subparsers):
    rep = subparsers.add_parser("reproduce",
                                help="remake a product from its provenance and compare, bit for bit")
    _common(rep)
    rep.add_argument("--allow-software-drift", action="store_true",
                     help="run even if software versions differ from the product's")
    rep.set_defaults(func=_reproduce)
    pro = subparsers.add_parser("reprocess",
                                help="rerun a product's input with the newest pipeline and context")
    _common(pro)
    pro.add_argument("--latest", action="store_true", required=True,
                     help="newest release of the product's pipeline and the latest reference context")
    pro.add_argument("--context", type=int, metavar="N",
                     help="reference-data context to use instead of the latest")
    pro.add_argument("--ref", action="append", default=[], metavar="TYPE=PATH",
                     help="use this reference file for TYPE (recorded as an override)")
    pro.set_defaults(func=_reprocess)


def _common(parser) -> None:
    parser.add_argument("product", type=Path)
    parser.add_argument("--input", type=Path, action="append", default=[], metavar="FILE",
                        help="an input the product was made from (checked by sha256); repeat for several")
    parser.add_argument("--search", type=Path, action="append", default=[], metavar="DIR",
                        help="where to look for the input and overridden reference files")
    parser.add_argument("-o", "--output-dir", type=Path, help="keep the new product here (default: discard)")
    parser.add_argument("--refdata", type=Path, metavar="DIR", help="reference store")


def _context(args):
    from calpipe.core.registry import get_registry
    from calpipe.refdata.store import Store, default_root

    return get_registry(), Store(default_root(args.refdata))


def _out_dir(args, stack) -> Path:
    if args.output_dir is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="calpipe-")))
    if args.output_dir.resolve() == args.product.resolve().parent:
        from calpipe.core.errors import UsageError

        raise UsageError(f"-o {args.output_dir} would overwrite {args.product.name}; "
                         "choose another directory")
    return args.output_dir


def _reproduce(args) -> int:
    import contextlib

    from calpipe.core.io import open_product

    from .compare import compare_arrays, format_diffs
    from .rerun import reproduce

    registry, store = _context(args)
    with contextlib.ExitStack() as stack:
        new_path, drift = reproduce(args.product, registry, store, _out_dir(args, stack), args.input,
                                    args.search, args.allow_software_drift)
        for line in drift:
            print(f"software drift (allowed): {line}")
        diffs = compare_arrays(open_product(args.product), open_product(new_path))
    print(f"{args.product.name}: {format_diffs(diffs)}")
    if diffs and all(d.identical for d in diffs):
        return 0
    for line in platform_note(provenance.read(args.product)):
        print(line)
    return EXIT_DIFFERENT


def platform_note(record: dict[str, Any]) -> list[str]:
    """Why bytes may differ with the same software: the product was made on another platform."""
    from calpipe.core.fingerprint import differences, platform_fingerprint

    changed = differences(record["software"].get(provenance.PLATFORM), platform_fingerprint())
    if not changed:
        return []
    return ["the platform differs from the product's, so low bits may legitimately differ "
            "(bit for bit needs the same software and platform):", *(f"  platform {c}" for c in changed)]


def _ref_overrides(items: list[str]) -> dict[str, Path]:
    from calpipe.core.cli.arguments import split_assignment
    from calpipe.core.errors import RefDataError

    refs = {t: Path(p) for t, p in (split_assignment(r, "--ref") for r in items)}
    for reftype, path in refs.items():
        if not path.is_file():
            raise RefDataError(f"--ref {reftype}={path}: file not found (check the path)")
    return refs


def _reprocess(args) -> int:
    import contextlib

    from calpipe.core.io import open_product

    from .compare import science_summary
    from .rerun import reprocess_latest

    registry, store = _context(args)
    with contextlib.ExitStack() as stack:
        new_path, old = reprocess_latest(args.product, registry, store, _out_dir(args, stack), args.input,
                                         args.search, args.context, _ref_overrides(args.ref))
        new = provenance.read(new_path)
        lines = changes(old, new)
        lines += ["science:", *(f"  {s}" for s in science_summary(open_product(args.product),
                                                                  open_product(new_path)))]
        if args.output_dir is not None:
            lines.append(f"new product: {new_path}")
    print("\n".join(lines))
    return 0


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Pipeline, context, steps, parameters and references that differ between two records."""
    po, pn = old["pipeline"], new["pipeline"]
    lines = [f"pipeline {po['name']} {po['version']} -> {pn['version']}"
             + ("" if po["sha256"] != pn["sha256"] else " (same definition)"),
             f"reference context {old.get('refdata_context')} -> {new.get('refdata_context')}", "steps:"]
    steps_old = {s["id"]: s for s in old["steps"]}
    steps_new = {s["id"]: s for s in new["steps"]}
    for sid in dict.fromkeys([*steps_old, *steps_new]):
        a, b = steps_old.get(sid), steps_new.get(sid)
        if a is None:
            lines.append(f"  + {sid}: {b['name']} {b['version']}")
        elif b is None:
            lines.append(f"  - {sid}: {a['name']} {a['version']}")
        else:
            if (a["name"], a["version"], a["status"]) != (b["name"], b["version"], b["status"]):
                lines.append(f"  {sid}: {a['name']} {a['version']} {a['status']} -> "
                             f"{b['name']} {b['version']} {b['status']}")
            for key in sorted(set(a["params"]) | set(b["params"])):
                if a["params"].get(key) != b["params"].get(key):
                    lines.append(f"  {sid}.{key}: {a['params'].get(key)!r} -> {b['params'].get(key)!r}")
    lines.append("references:")
    refs_old = {r["reftype"]: r for s in old["steps"] for r in s["refs"]}
    refs_new = {r["reftype"]: r for s in new["steps"] for r in s["refs"]}
    for reftype in dict.fromkeys([*refs_old, *refs_new]):
        a, b = refs_old.get(reftype), refs_new.get(reftype)
        if (a or {}).get("sha256") != (b or {}).get("sha256"):
            lines.append(f"  {reftype}: {(a or {}).get('name')} -> {(b or {}).get('name')}")
    return lines
