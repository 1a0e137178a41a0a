"""Rebuild a run from a product's provenance, or rerun its input with the newest pipeline.

Nothing is ever substituted silently: a step version that is no longer
registered, a reference file that cannot be found by its sha256, an input
whose bytes differ, or different software versions stop the run with a message
that says which and what to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calpipe.core.errors import InputDataError, RefDataError, UsageError
from calpipe.core.pipeline import ResolvedPipeline, resolve
from calpipe.core.provenance import read as read_provenance
from calpipe.core.provenance import sha256_file, software_versions
from calpipe.core.registry import Registry
from calpipe.core.runner import RefFile, Runner
from calpipe.refdata.resolver import ContextResolver
from calpipe.refdata.store import Store


class FixedResolver:
    """Exactly the reference files a product records, found by sha256."""

    def __init__(self, files: dict[str, RefFile], context: str | None):
        self.files = files
        self.context = context

    def resolve(self, reftype: str, product: Any) -> RefFile:
        return self.files[reftype]


@dataclass
class Plan:
    record: dict[str, Any]
    pipeline: ResolvedPipeline
    input: Path


def load_record(product: Path) -> dict[str, Any]:
    record = read_provenance(product)
    definition = record["pipeline"]["definition"]
    if hashlib.sha256(definition.encode()).hexdigest() != record["pipeline"]["sha256"]:
        raise InputDataError(f"{product}: the embedded pipeline definition does not match its sha256 "
                             "(the provenance was edited); this product cannot be reproduced")
    return record


def find_input(record: dict[str, Any], product: Path, given: Path | None, search: list[Path]) -> Path:
    """The recorded raw input, by name and sha256; a different file is refused, never used."""
    if len(record["inputs"]) != 1:
        raise UsageError(f"{product}: made from {len(record['inputs'])} inputs; only single-input products "
                         "can be reproduced so far")
    wanted = record["inputs"][0]
    if given is not None:
        if not given.is_file():
            raise InputDataError(f"{given}: file not found")
        digest = sha256_file(given)
        if digest != wanted["sha256"]:
            raise InputDataError(f"{given}: not the input {product.name} was made from (sha256 "
                                 f"{digest[:16]}…, expected {wanted['sha256'][:16]}… of {wanted['name']})")
        return given
    dirs = [*search, product.parent, Path.cwd()]
    near_misses = []
    for directory in dirs:
        candidate = directory / wanted["name"]
        if candidate.is_file():
            if sha256_file(candidate) == wanted["sha256"]:
                return candidate
            near_misses.append(str(candidate))
    hint = f"; {', '.join(near_misses)} has the name but other bytes" if near_misses else ""
    raise InputDataError(f"input {wanted['name']} (sha256 {wanted['sha256'][:16]}…) of {product.name} not "
                         f"found in {', '.join(str(d) for d in dirs)}{hint}; pass --input RAW")


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


def software_drift(record: dict[str, Any], registry: Registry) -> list[str]:
    """What differs between the software that made the product and this one."""
    then, now = record["software"], software_versions(registry.plugin_versions())
    drift = [f"{k} {then.get(k)} -> {now.get(k)}" for k in sorted(set(then) | set(now))
             if k != "plugins" and then.get(k) != now.get(k)]
    plugins_then, plugins_now = then.get("plugins", {}), now.get("plugins", {})
    drift += [f"plugin {k} {plugins_then.get(k)} -> {plugins_now.get(k)}"
              for k in sorted(set(plugins_then) | set(plugins_now))
              if plugins_then.get(k) != plugins_now.get(k)]
    return drift


def reproduce(product: Path, registry: Registry, store: Store, out_dir: Path, given: Path | None = None,
              search: list[Path] | None = None, allow_software_drift: bool = False) -> tuple[Path, list[str]]:
    """Rerun exactly what ``product`` records; returns the new product and any software drift."""
    search = list(search or [])
    record = load_record(product)
    definition = json.loads(record["pipeline"]["definition"])
    pipeline = ResolvedPipeline.from_definition(definition, registry, f"{product.name} provenance")
    raw = find_input(record, product, given, search)
    resolver = FixedResolver(recorded_refs(record, store, search), record.get("refdata_context"))
    drift = software_drift(record, registry)
    if drift and not allow_software_drift:
        raise UsageError(f"{product.name} was made with other software: {'; '.join(drift)} "
                         "(install those versions, or pass --allow-software-drift to try anyway)")
    return Runner(pipeline, resolver).run_file(raw, out_dir), drift


def reprocess_latest(product: Path, registry: Registry, store: Store, out_dir: Path,
                     given: Path | None = None, search: list[Path] | None = None) -> tuple[Path, dict]:
    """Rerun the recorded input with the newest release of its pipeline and the store's latest context."""
    record = load_record(product)
    name = record["pipeline"]["name"]
    pipeline = resolve(name, registry)
    raw = find_input(record, product, given, list(search or []))
    resolver = ContextResolver(store, None, {}, registry)
    return Runner(pipeline, resolver).run_file(raw, out_dir), record
