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

from .arguments import build_overrides, extract_step_options, guarded, setup_logging, split_assignment


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
    p.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where products go")
    p.add_argument("--steps.ID.PARAM", dest="_doc", metavar="VALUE",
                   help="set a step parameter (same as --set ID.PARAM=VALUE)")
    p.add_argument("--set", action="append", default=[], metavar="ID.PARAM=VALUE",
                   help="set a step parameter, or NAME=VALUE for a pipeline parameter")
    p.add_argument("--config", metavar="FILE", help="YAML file of parameter values")
    p.add_argument("--ref", action="append", default=[], metavar="TYPE=PATH",
                   help="use this reference file for TYPE (recorded as an override)")
    p.add_argument("--context", type=int, metavar="N",
                   help="reference-data context (default: the pipeline's own)")
    p.add_argument("--refdata", type=Path, metavar="DIR",
                   help="reference store (default: $CALPIPE_REFDATA or the user data directory)")
    p.add_argument("--skip", action="append", default=[], metavar="ID", help="skip a step")
    p.add_argument("--save-intermediates", action="store_true", help="write the product after each step")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel processes")
    p.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
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
    setup_logging(args.quiet, args.verbose)
    return _run(pipeline, args)


def _run(pipeline, args) -> int:
    import functools

    from ..models.asdf_plugins import load_only_calpipe_plugins
    from ..registry import get_registry
    from ..runner import Runner

    load_only_calpipe_plugins()  # this process handles calpipe products only
    refs = _check_run_options(pipeline, args)
    args.groups = input_groups(pipeline, args.inputs, args.output_dir, args.save_intermediates)
    resolver = make_resolver(get_registry(), pipeline, args.context, args.refdata, refs)
    runner = Runner(pipeline, resolver)
    if args.dry_run:
        return _dry_run(runner, args.groups)

    context = args.context
    from_store = set(pipeline.reftypes()) - set(refs)
    if args.jobs > 1 and len(args.groups) > 1 and from_store and hasattr(resolver, "pin"):
        context = resolver.pin()  # settle (and install) the context once, before the workers start
    args.make_runner = functools.partial(build_runner, pipeline.definition(), context, args.refdata, refs)
    if len(args.groups) == 1:
        for out in runner.run_group(args.groups[0], args.output_dir, args.save_intermediates):
            if not args.quiet:
                print(out)
        return 0
    outcomes = _run_with_progress(runner, args.groups, args)
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


def _run_with_progress(runner, inputs, args):
    from ..runner import run_many

    if args.quiet:
        return run_many(runner, inputs, args.output_dir, args.jobs, args.save_intermediates,
                        make_runner=args.make_runner)
    from rich.progress import Progress

    with Progress(transient=True, redirect_stderr=False) as bar:
        task = bar.add_task(f"{runner.pipeline.name}", total=len(inputs))
        return run_many(runner, inputs, args.output_dir, args.jobs, args.save_intermediates,
                        progress=lambda _: bar.advance(task), make_runner=args.make_runner)


def _check_run_options(pipeline, args) -> dict[str, Path]:
    """--ref types and files, the output directory and input names, checked before any work."""
    from ..errors import RefDataError, UsageError
    from ..params import did_you_mean

    refs = {t: Path(p) for t, p in (split_assignment(r, "--ref") for r in args.ref)}
    for reftype, path in refs.items():
        if reftype not in pipeline.reftypes():
            hint = did_you_mean(reftype, pipeline.reftypes()) or f"it uses: {', '.join(pipeline.reftypes())}"
            raise UsageError(f"--ref {reftype}=...: {pipeline.name} uses no '{reftype}' reference ({hint})")
        if not path.is_file():
            raise RefDataError(f"--ref {reftype}={path}: file not found (check the path)")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise UsageError(f"-o {args.output_dir}: exists and is not a directory")
    return refs


def input_groups(pipeline, inputs: list[Path], output_dir: Path | None = None,
                 save_intermediates: bool = False) -> list:
    """What each run takes: association files (.yaml/.yml/.json) and product files.

    A pipeline that combines takes each association as one run and all loose
    product files together as another; any other pipeline runs every member
    and every file on its own. With ``output_dir``, runs whose outputs collide
    (or overwrite another run's input) are refused before anything runs.
    """
    from ..association import ASSOCIATION_SUFFIXES, Group, group_name, load_association
    from ..errors import UsageError

    associations = [load_association(p) for p in inputs if p.suffix.lower() in ASSOCIATION_SUFFIXES]
    files = [p for p in inputs if p.suffix.lower() not in ASSOCIATION_SUFFIXES]
    if pipeline.combines:
        paths = [p.resolve() for p in files]
        twice = sorted({str(p) for p in files if paths.count(p.resolve()) > 1})
        if twice:
            raise UsageError(f"{', '.join(twice)} given more than once: each member counts once in a "
                             "combined product")
        groups = associations + ([Group(group_name(files, pipeline.name), tuple(files), files[0])]
                                 if files else [])
        names = [g.name for g in groups]
    else:
        groups = [Group.of(p) for a in associations for p in a.members] + [Group.of(p) for p in files]
        names = [g.source.name for g in groups]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UsageError(f"inputs {', '.join(clash)} appear more than once by name; their outputs would "
                         "overwrite each other (run them into different -o directories)")
    if output_dir is not None:
        from ..runner import refuse_collisions

        refuse_collisions(pipeline, groups, output_dir, save_intermediates)
    return groups


def make_resolver(registry, pipeline, context, store, refs):
    """The installed reference-data system's resolver, or --ref overrides alone without one."""
    from ..runner import OverrideResolver

    resolver = registry.ref_resolver(pipeline, context, store, refs)
    if resolver is None:
        if context is not None:
            from ..errors import UsageError

            raise UsageError("--context needs a reference-data plugin, and none is installed")
        resolver = OverrideResolver(refs)
    return resolver


def build_runner(definition: dict, context: int | None, store: Path | None, refs: dict[str, Path]):
    """A worker's runner, rebuilt from the frozen definition and the context the parent settled."""
    from ..models.asdf_plugins import load_only_calpipe_plugins
    from ..pipeline import ResolvedPipeline
    from ..registry import get_registry
    from ..runner import Runner

    load_only_calpipe_plugins()
    registry = get_registry()
    pipeline = ResolvedPipeline.from_definition(definition, registry, "strun worker")
    return Runner(pipeline, make_resolver(registry, pipeline, context, store, refs))


def _dry_run(runner, groups) -> int:
    from ..association import refuse_same_data
    from ..io import open_product
    from ..provenance import sha256_file

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
    print("dry run: nothing written")
    return 0


def pipeline_help(pipeline) -> str:
    from ..params import describe

    lines = [f"{pipeline.name} {pipeline.version} - {pipeline.description}".rstrip(" -"),
             f"  instrument: {pipeline.instrument or 'any'}; level {pipeline.input_level} -> "
             f"{pipeline.output_level}; reference types: {', '.join(pipeline.reftypes()) or 'none'}",
             "", "parameters (set with --steps.ID.PARAM=VALUE):"]
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
