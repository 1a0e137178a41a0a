"""calpipe: everything but running pipelines (strun does that).

    calpipe list                      pipelines and steps with versions, per instrument
    calpipe show PIPELINE             the resolved pipeline and where each value came from
    calpipe schema                    JSON Schema of the pipeline YAML format
    calpipe provenance PRODUCT        how a product was made (--prov-json for W3C PROV)

Plugins add more (`calpipe demo`, `calpipe refdata ...`) through the
calpipe_add_commands hook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .arguments import VersionAction, build_overrides, guarded


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="calpipe", description="calpipe tools (run pipelines with strun).")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="registered pipelines and steps, per instrument").set_defaults(func=_list)

    show = sub.add_parser("show", help="resolved pipeline with the source of every value")
    show.add_argument("pipeline", help="pipeline YAML path or NAME[@VERSION]")
    show.add_argument("--config", metavar="FILE")
    show.add_argument("--set", action="append", default=[], metavar="ID.PARAM=VALUE")
    show.add_argument("--skip", action="append", default=[], metavar="ID")
    show.set_defaults(func=_show)

    schema = sub.add_parser("schema", help="JSON Schema of pipeline YAML files (for editors)")
    schema.set_defaults(func=_schema)

    prov = sub.add_parser("provenance", help="print a product's provenance")
    prov.add_argument("product", type=Path)
    prov.add_argument("--prov-json", action="store_true", help="export W3C PROV-JSON")
    prov.set_defaults(func=_provenance)

    from ..registry import get_registry

    get_registry().add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    return guarded("calpipe", _main, argv)


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def _list(args) -> int:
    from ..registry import get_registry

    reg = get_registry()
    print("Pipelines")
    for name in reg.pipeline_names():
        versions = reg.pipeline_versions(name)
        newest = reg.pipeline_file(name)
        print(f"  {name:<22} {', '.join(versions):<14} {newest.instrument or 'any':<8} "
              f"{' '.join(newest.description.split())[:60]}")
    by_instrument: dict[str, list[str]] = {}
    for name in reg.step_names():
        versions = reg.step_versions(name)
        cls = reg.step(name)
        line = f"    {name:<20} {', '.join(versions):<14} {cls.summary()}"
        for inst in cls.instruments or ("any",):
            by_instrument.setdefault(inst, []).append(line)
    print("Steps")
    for inst in sorted(by_instrument, key=lambda i: (i != "any", i)):
        print(f"  {inst}:")
        print("\n".join(by_instrument[inst]))
    return 0


def _show(args) -> int:
    from ..pipeline import resolve
    from ..registry import get_registry

    pipeline = resolve(args.pipeline, get_registry(), build_overrides(args.config, args.set, args.skip))
    print(f"{pipeline.name} {pipeline.version}  ({pipeline.source})")
    print(f"  definition sha256 {pipeline.sha256()}")
    print(f"  instrument {pipeline.instrument or 'any'}; level {pipeline.input_level} -> "
          f"{pipeline.output_level}; output suffix _{pipeline.suffix}; "
          f"reference context {pipeline.refdata if pipeline.refdata is not None else 'none'}")
    for s in pipeline.steps:
        flag = "  SKIPPED" if s.skip else ""
        print(f"  {s.id}: {s.step.name} {s.step.version}{flag}")
        for key, value in s.params.model_dump().items():
            print(f"      {key} = {value!r:<16} [{s.sources[key]}]")
    print(f"  reference types: {', '.join(pipeline.reftypes()) or 'none'}")
    return 0


def _schema(args) -> int:
    import json

    from ..pipeline_file import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _provenance(args) -> int:
    from .. import provenance

    record = provenance.read(args.product)
    if args.prov_json:
        sha256 = provenance.sha256_file(args.product)
        print(provenance.to_prov_document(record, args.product.name, sha256).serialize(indent=2))
    else:
        print(provenance.format_text(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
