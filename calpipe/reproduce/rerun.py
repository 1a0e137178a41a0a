"""Rebuild a run from a product's provenance, or rerun its input with the newest pipeline.

Nothing is ever substituted silently: a step version that is no longer
registered, a reference file that cannot be found by its sha256, an input
whose bytes differ, or different software versions stop the run with a message
that says which and what to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from calpipe.core.association import Group
from calpipe.core.errors import InputDataError, RefDataError, UsageError
from calpipe.core.pipeline import ResolvedPipeline, resolve
from calpipe.core.provenance import PLATFORM, sha256_file, software_versions
from calpipe.core.provenance import read as read_provenance
from calpipe.core.refs import RefFile
from calpipe.core.registry import Registry
from calpipe.core.runner import Runner
from calpipe.refdata.resolver import ContextResolver
from calpipe.refdata.store import FIRST_LOCAL, Store


class FixedResolver:
    """Exactly the reference files a product records, found by sha256."""

    def __init__(self, files: dict[str, RefFile], context: str | None):
        self.files = files
        self.context = context

    def resolve(self, reftype: str, product: Any) -> RefFile:
        return self.files[reftype]


def load_record(product: Path) -> dict[str, Any]:
    record = read_provenance(product)
    definition = record["pipeline"]["definition"]
    if hashlib.sha256(definition.encode()).hexdigest() != record["pipeline"]["sha256"]:
        raise InputDataError(f"{product}: the embedded pipeline definition does not match its sha256 "
                             "(the provenance was edited); this product cannot be reproduced")
    return record


def find_inputs(record: dict[str, Any], product: Path, given: list[Path], search: list[Path]) -> list[Path]:
    """The recorded inputs, each by name and sha256; a file with other bytes is refused, never used.

    ``given`` files (--input) are matched by sha256; the rest are looked for by
    name in the search directories, the product's own and the working directory.
    """
    given_by_hash = {}
    for path in given:
        if not path.is_file():
            raise InputDataError(f"{path}: file not found")
        given_by_hash[sha256_file(path)] = path
    wanted = record["inputs"]
    unknown = set(given_by_hash) - {w["sha256"] for w in wanted}
    if unknown:
        path = given_by_hash[unknown.pop()]
        raise InputDataError(f"{path}: not an input {product.name} was made from (its sha256 is not among "
                             f"the {len(wanted)} recorded)")
    dirs = [*search, product.parent, Path.cwd()]
    found, missing = [], []
    for w in wanted:
        path = given_by_hash.get(w["sha256"])
        near_misses = []
        for directory in dirs if path is None else ():
            candidate = directory / w["name"]
            if candidate.is_file():
                if sha256_file(candidate) == w["sha256"]:
                    path = candidate
                    break
                near_misses.append(str(candidate))
        if path is None:
            hint = f" ({', '.join(near_misses)} has the name but other bytes)" if near_misses else ""
            missing.append(f"{w['name']} (sha256 {w['sha256'][:16]}…){hint}")
        found.append(path)
    if missing:
        raise InputDataError(f"input(s) of {product.name} not found in {', '.join(str(d) for d in dirs)}: "
                             f"{'; '.join(missing)}; pass --input FILE or --search DIR")
    return found


def _rerun(runner: Runner, product: Path, inputs: list[Path], out_dir: Path) -> Path:
    """Run the inputs again; a combined product comes back under its own name."""
    if not runner.pipeline.combines:
        return runner.run_file(inputs[0], out_dir)
    stem = product.stem.rsplit(f"_{runner.pipeline.suffix}", 1)[0]
    outputs = runner.run_group(Group(stem, tuple(inputs), product), out_dir)
    for path in outputs:
        if path.name == product.name:
            return path
    raise UsageError(f"{product.name}: rerunning its pipeline made {', '.join(p.name for p in outputs)}, "
                     "not this file; only a run's final products can be reproduced")


def recorded_refs(record: dict[str, Any], store: Store, search: list[Path]) -> dict[str, RefFile]:
    """reftype -> the exact file recorded, from the store (or a search directory for overrides)."""
    files: dict[str, RefFile] = {}
    for step in record["steps"]:
        for ref in step["refs"]:
            if ref["reftype"] in files:
                continue
            path = store.file_path(ref["sha256"])
            if not path.is_file():
                path = next((d / ref["name"] for d in search if (d / ref["name"]).is_file()
                             and sha256_file(d / ref["name"]) == ref["sha256"]), None)
            if path is None:
                how = "was given with --ref" if ref["overridden"] else "is not in the store"
                raise RefDataError(f"reference file {ref['name']} (sha256 {ref['sha256'][:16]}…) for "
                                   f"{ref['reftype']} {how} and cannot be found: restore it to {store.root} "
                                   "or put it in a --search directory")
            files[ref["reftype"]] = RefFile(ref["reftype"], path, ref["overridden"], ref["sha256"],
                                            ref["name"])
    return files


def used_distributions(record: dict[str, Any], registry: Registry, store: Store,
                       models: set[str]) -> set[str]:
    """The distributions a run depended on: calpipe, and whoever provided its steps, models
    (DATAMODL of the product and its inputs) and the built-in reference sets its files came from.

    A reference file comes from the sets first published in the lowest built-in context that holds it.
    """
    steps = {(s["name"], s["version"]) for s in record["steps"]}
    shas = {r["sha256"] for s in record["steps"] for r in s["refs"]}
    first_seen: set[int] = set()
    for number in (n for n in store.context_numbers() if n < FIRST_LOCAL):
        held = shas & set(store.load(number).files())
        if held:
            first_seen.add(number)
            shas -= held
    return ({"calpipe"}
            | registry.distributions_providing("calpipe_steps", lambda c: (c.name, c.version) in steps)
            | registry.distributions_providing("calpipe_models", lambda m: m.__name__ in models)
            | registry.distributions_providing("calpipe_refsets", lambda rs: rs.context in first_seen))


def software_drift(record: dict[str, Any], registry: Registry, used: set[str]) -> list[str]:
    """What differs, of what can change the product, between the software that made it and this one.

    Every library the record names (numerical libraries, python; whatever calpipe recorded at the
    time) counts, and of the plugins only the distributions in ``used``: a plugin installed since,
    or one the run never touched, cannot change the product's bytes. The platform is not software
    (``calpipe reproduce`` reports it when bytes differ); a library the product does not record
    (older products record fewer) is unknown, not drift.
    """
    then, now = record["software"], software_versions(registry.plugin_versions())
    drift = [f"{k} {then.get(k)} -> {now.get(k)}" for k in sorted(then)
             if k not in ("plugins", PLATFORM) and then.get(k) != now.get(k)]
    plugins_then, plugins_now = then.get("plugins", {}), now.get("plugins", {})
    drift += [f"plugin {k} {plugins_then.get(k)} -> {plugins_now.get(k)}"
              for k in sorted(used - {"calpipe"}) if plugins_then.get(k) != plugins_now.get(k)]
    return drift


def reproduce(product: Path, registry: Registry, store: Store, out_dir: Path, given: list[Path] | None = None,
              search: list[Path] | None = None, allow_software_drift: bool = False) -> tuple[Path, list[str]]:
    """Rerun exactly what ``product`` records; returns the new product and any software drift."""
    search = list(search or [])
    record = load_record(product)
    definition = json.loads(record["pipeline"]["definition"])
    pipeline = ResolvedPipeline.from_definition(definition, registry, f"{product.name} provenance")
    inputs = find_inputs(record, product, list(given or []), search)
    resolver = FixedResolver(recorded_refs(record, store, search), record.get("refdata_context"))
    models = {_model_name(p) for p in (product, *inputs)}
    drift = software_drift(record, registry, used_distributions(record, registry, store, models))
    if drift and not allow_software_drift:
        raise UsageError(f"{product.name} was made with other software: {'; '.join(drift)} "
                         "(install those versions, or pass --allow-software-drift to try anyway)")
    return _rerun(Runner(pipeline, resolver, registry=registry), product, inputs, out_dir), drift


def _model_name(path: Path) -> str | None:
    from astropy.io import fits

    return fits.getheader(path).get("DATAMODL")


def reprocess_latest(product: Path, registry: Registry, store: Store, out_dir: Path,
                     given: list[Path] | None = None, search: list[Path] | None = None,
                     context: int | None = None, overrides: dict[str, Path] | None = None
                     ) -> tuple[Path, dict]:
    """Rerun the recorded input with the newest release of its pipeline and the store's latest context.

    ``context`` pins another context and ``overrides`` (reftype -> file) replace single types, as
    `strun --context/--ref` do.
    """
    record = load_record(product)
    name = record["pipeline"]["name"]
    pipeline = resolve(name, registry)
    overrides = dict(overrides or {})
    unused = sorted(set(overrides) - set(pipeline.reftypes()))
    if unused:
        raise UsageError(f"--ref {unused[0]}=...: {pipeline.name} {pipeline.version} uses no '{unused[0]}' "
                         f"reference (it uses: {', '.join(pipeline.reftypes()) or 'none'})")
    inputs = find_inputs(record, product, list(given or []), list(search or []))
    resolver = ContextResolver(store, context, overrides, registry)
    return _rerun(Runner(pipeline, resolver, registry=registry), product, inputs, out_dir), record
