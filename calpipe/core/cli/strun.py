"""strun: run a pipeline on one or more input products.

    strun PIPELINE INPUT... [-o DIR] [--steps.ID.PARAM=VALUE] [--set ID.PARAM=VALUE]
          [--config FILE] [--ref TYPE=PATH] [--skip ID] [--save-intermediates]
          [-j N] [--dry-run] [--quiet|--verbose] [--debug]

PIPELINE is a YAML path or a registered name with an optional @version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import (
    VersionAction,
    build_overrides,
    directory,
    extract_step_options,
    guarded,
    setup_logging,
    split_assignment,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="strun", add_help=False,
        description="Run a calpipe pipeline on input products.",
        epilog="`strun PIPELINE --help` lists that pipeline's parameters. Exit codes: 0 ok, "
               "1 internal error, 2 usage/config error, 3 bad input data, 4 reference-data error.",
    )
    p.add_argument("pipeline", nargs="?", help="pipeline YAML path, or registered NAME[@VERSION]")
    p.add_argument("inputs", nargs="*", type=Path,
                   help="input product files (FITS), or association files (.yaml/.json) listing them")
    p.add_argument("-h", "--help", action="store_true", help="show help (of PIPELINE if given)")
    p.add_argument("-o", "--output-dir", type=directory, default=Path("."), help="where products go")
    p.add_argument("--steps.ID.PARAM", dest="_doc", metavar="VALUE",
                   help="set a step parameter (same as --set ID.PARAM=VALUE)")
    p.add_argument("--set", action="append", default=[], metavar="ID.PARAM=VALUE",
                   help="set a step parameter, or NAME=VALUE for a pipeline parameter")
    p.add_argument("--config", metavar="FILE", help="YAML file of parameter values")
    p.add_argument("--ref", action="append", default=[], metavar="TYPE=PATH",
                   help="use this reference file for TYPE (recorded as an override)")
    p.add_argument("--context", type=int, metavar="N",
                   help="reference-data context (default: the pipeline's own)")
    p.add_argument("--refdata", type=directory, metavar="DIR",
                   help="reference store (default: $CALPIPE_REFDATA or the user data directory)")
    p.add_argument("--skip", action="append", default=[], metavar="ID", help="skip a step")
    p.add_argument("--save-intermediates", action="store_true", help="write the product after each step")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel processes")
    p.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--log-file", type=Path, metavar="FILE",
                   help="also write the full log (debug level) to FILE")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action=VersionAction)
    return p


def main(argv: list[str] | None = None) -> int:
    return guarded("strun", _main, argv)


def _main(argv: list[str]) -> int:
    argv, step_sets = extract_step_options(argv)
    parser = _parser()
    args, unknown = parser.parse_known_intermixed_args(argv)
    if args.help and not args.pipeline:
        parser.print_help()
        return 0
    if unknown:
        from ..errors import UsageError
        from ..params import did_you_mean

        options = [o for a in parser._actions for o in a.option_strings]
        flag = unknown[0].split("=")[0]
        raise UsageError(f"unknown option '{flag}' ({did_you_mean(flag, options) or 'see strun --help'})")
    if not args.pipeline:
        parser.print_usage(sys.stderr)
        print("strun: error: a PIPELINE is required", file=sys.stderr)
        return 2

    from ..pipeline import resolve
    from ..registry import get_registry

    overrides = build_overrides(args.config, step_sets + args.set, args.skip)
    pipeline = resolve(args.pipeline, get_registry(), overrides)
    if args.help:
        print(pipeline_help(pipeline))
        return 0
    if not args.inputs:
        from ..errors import UsageError

        raise UsageError(f"no input files given (usage: strun {args.pipeline} INPUT... -o DIR)")
    if args.jobs < 1:
        from ..errors import UsageError

        raise UsageError(f"-j must be at least 1, got {args.jobs}")
    setup_logging(args.quiet, args.verbose, args.log_file)
    return _run(pipeline, args)


def _run(pipeline, args) -> int:
    from .. import api
    from ..registry import get_registry

    refs = dict(split_assignment(r, "--ref") for r in args.ref)
    if args.dry_run:
        prep = api.prepare(pipeline, args.inputs, context=args.context, refs=refs, refdata=args.refdata,
                           output_dir=args.output_dir, save_intermediates=args.save_intermediates,
                           registry=get_registry())
        return _dry_run(prep.runner, prep.groups, args)
    options = dict(context=args.context, refs=refs, refdata=args.refdata, jobs=args.jobs,
                   save_intermediates=args.save_intermediates, registry=get_registry())
    api.check_refs(pipeline, refs)
    api.check_output_dir(args.output_dir)
    groups = api.input_groups(pipeline, args.inputs, args.output_dir, args.save_intermediates)
    if len(groups) == 1:  # one run: its error is the command's (with its traceback under --debug)
        for out in api.run(pipeline, groups, args.output_dir, **options, on_error="raise").outputs:
            if not args.quiet:
                print(out)
        return 0
    outcomes = _run_with_progress(pipeline, groups, args, options)
    failed = [o for o in outcomes if o.error]
    if not args.quiet:
        for o in outcomes:
            for out in o.outputs:
                print(out)
    print(f"strun: {len(outcomes) - len(failed)} of {len(outcomes)} inputs calibrated, "
          f"{len(failed)} failed", file=sys.stderr)
    for o in failed:
        print(f"  FAILED {o.input}: {o.error}", file=sys.stderr)
    return failed[0].exit_code if failed else 0


def _run_with_progress(pipeline, groups, args, options):
    from .. import api

    if args.quiet:
        return api.run(pipeline, groups, args.output_dir, **options).outcomes
    from rich.progress import Progress

    with Progress(transient=True, redirect_stderr=False) as bar:
        task = bar.add_task(f"{pipeline.name}", total=len(groups))
        return api.run(pipeline, groups, args.output_dir, **options,
                       progress=lambda _: bar.advance(task)).outcomes


def _dry_run(runner, groups, args) -> int:
    from ..association import refuse_same_data
    from ..io import open_product
    from ..provenance import sha256_file
    from ..runner import planned_outputs

    p = runner.pipeline
    print(f"{p.name} {p.version}: {len(p.steps)} steps, definition sha256 {p.sha256()[:16]}")
    for group in groups:
        products = [open_product(path, runner.models) for path in group.members]
        for path, product in zip(group.members, products, strict=True):
            runner.check_input(product, path.name)
        if p.combines:
            refuse_same_data(group.source, [m.name for m in group.members],
                             [sha256_file(m) for m in group.members])
        refs = runner.load_refs(products[0])
        what = f"{len(products)} members" if p.combines else "ok"
        print(f"{group.source}: {what}; references: " + (", ".join(
            f"{t}={r.use.name}" for t, r in refs.items()) or "none"))
        outputs = planned_outputs(p, group, args.output_dir, args.save_intermediates)
        print("  would write: " + ", ".join(map(str, outputs)))
    print("dry run: nothing written")
    return 0


def pipeline_help(pipeline) -> str:
    from ..params import describe

    lines = [f"{pipeline.name} {pipeline.version} - {pipeline.description}".rstrip(" -"),
             f"  instrument: {pipeline.instrument or 'any'}; level {pipeline.input_level} -> "
             f"{pipeline.output_level}; reference types: {', '.join(pipeline.reftypes()) or 'none'}",
             ""]
    if pipeline.parameters:
        lines.append("pipeline parameters (set with --set NAME=VALUE; used as ${NAME} in the steps):")
        lines += [f"  {name}={value!r}  [{source}]" for name, (value, source) in pipeline.parameters.items()]
        lines.append("")
    lines.append("parameters (set with --steps.ID.PARAM=VALUE):")
    for s in pipeline.steps:
        lines.append(f"  {s.id}  ({s.step.name} {s.step.version}{', skipped' if s.skip else ''})"
                     f"  {s.step.summary()}")
        effective = s.params.model_dump()
        for info in describe(s.step.Params):
            bounds = f" [{info.bounds}]" if info.bounds else ""
            lines.append(f"    --steps.{s.id}.{info.name}={effective[info.name]!r}  "
                         f"({info.type}{bounds}, default {info.default!r}) {info.help}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
