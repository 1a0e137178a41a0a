"""The provenance record: built and written by the runner only, read by anyone.

Two faces: a full structured record in the ASDF tree (``meta.provenance``),
enough to rerun the product, and plain FITS keywords (PIPELINE, PIPEVER,
CAL_VER, REFCTX, DATALVL, S_<STEP>, R_<TYPE>, HISTORY) for anyone with
astropy.io.fits or an archive catalog.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import __version__
from .fingerprint import platform_fingerprint

STATUS_COMPLETE = "COMPLETE"
STATUS_SKIPPED = "SKIPPED"
STATUS_FAILED = "FAILED"
_SOFTWARE = ("numpy", "astropy", "asdf", "stdatamodels", "pluggy", "pydantic", "numba", "llvmlite",
             "scipy", "photutils", "drizzle")
#: Key of the platform fingerprint in the software block (see :mod:`calpipe.core.fingerprint`).
PLATFORM = "platform"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class RefUse:
    """One reference file as a step consumed it."""

    reftype: str
    name: str
    sha256: str
    overridden: bool


@dataclass
class StepRecord:
    id: str
    name: str
    version: str
    status: str
    params: dict[str, Any]
    refs: list[RefUse]
    duration_s: float = 0.0
    error: str | None = None
    started: str | None = None  # UTC, ISO 8601 with milliseconds (None: skipped)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("error", "started"):
            if out[key] is None:
                del out[key]
        return out


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds, no offset (as every record's times)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Versions of the software in _SOFTWARE, read once per process (~0.4 ms each: metadata is parsed)."""
    found = []
    for dist in _SOFTWARE:
        try:
            found.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


def software_versions(plugins: dict[str, str]) -> dict[str, Any]:
    versions = {"calpipe": __version__, "python": platform.python_version(), **dict(_installed_versions())}
    versions["plugins"] = dict(sorted(plugins.items()))
    versions[PLATFORM] = platform_fingerprint()
    return versions


def build_record(*, run_id: str, pipeline: Any, steps: list[StepRecord], context: str | None,
                 inputs: list[dict[str, Any]], plugins: dict[str, str]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "date": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),  # UTC
        "pipeline": {
            "name": pipeline.name,
            "version": pipeline.version,
            "sha256": pipeline.sha256(),
            # JSON text, not a tree: ASDF drops nulls, and the hash must be checkable.
            "definition": pipeline.canonical_json(),
        },
        "refdata_context": context,
        "steps": [s.as_dict() for s in steps],
        "inputs": inputs,
        "software": software_versions(plugins),
    }


def input_summary(name: str, sha256: str, model: Any) -> dict[str, Any]:
    """An input's identity and, if it was itself made by calpipe, how."""
    summary: dict[str, Any] = {"name": name, "sha256": sha256}
    previous = _plain(getattr(model.meta, "provenance", None))
    if previous:
        summary["provenance"] = {
            "run_id": previous.get("run_id"),
            "pipeline": {k: previous.get("pipeline", {}).get(k) for k in ("name", "version", "sha256")},
            "refdata_context": previous.get("refdata_context"),
        }
    return summary


def _fits_key(prefix: str, name: str, used: set[str]) -> str:
    base = prefix + re.sub(r"[^A-Z0-9]", "", name.upper())[: 8 - len(prefix)]
    key, n = base, 1
    while key in used:
        key = base[: 8 - len(str(n))] + str(n)
        n += 1
    used.add(key)
    return key


def apply(model: Any, record: dict[str, Any], output_level: int) -> None:
    """Write the record into the model: ASDF tree, FITS keywords and HISTORY."""
    meta = model.meta
    meta.date = record["date"]
    meta.provenance = record
    meta.pipeline.name = record["pipeline"]["name"]
    meta.pipeline.version = record["pipeline"]["version"]
    meta.calibration_software_version = __version__
    meta.origin = "calpipe"
    meta.data_level = output_level
    context = record["refdata_context"]
    meta.ref_context = "NONE" if context is None else str(context)
    _set_keyword(model, "CREATOR", f"{record['pipeline']['name']} {record['pipeline']['version']} "
                                   f"(calpipe {__version__})")

    used: set[str] = set()
    cards = []
    refs_seen: dict[str, str] = {}
    for step in record["steps"]:
        cards.append([_fits_key("S_", step["id"], used), step["status"], f"{step['id']} {step['version']}"])
        for ref in step["refs"]:
            refs_seen.setdefault(ref["reftype"], ref["name"])
    for reftype, name in refs_seen.items():
        cards.append([_fits_key("R_", reftype, used), name[:68], f"{reftype} reference file"])
    extra = _plain(getattr(model, "extra_fits", None)) or {}
    old = extra.get("PRIMARY", {}).get("header", [])
    keep = [c for c in old if not re.match(r"^[SR]_", str(c[0]))]
    extra.setdefault("PRIMARY", {})["header"] = keep + cards
    model.extra_fits = extra

    p = record["pipeline"]
    history = [f"calpipe {__version__} {p['name']} {p['version']} run {record['run_id']}"]
    for step in record["steps"]:
        history.append(f"{step['id']}: {step['name']} {step['version']} {step['status']}")
    for step in record["steps"]:
        for ref in step["refs"]:
            tag = " (override)" if ref["overridden"] else ""
            history.append(f"{ref['reftype']}: {ref['name']} sha256:{ref['sha256'][:16]}{tag}")
    model.add_history_entries(history)


def _set_keyword(model: Any, keyword: str, value: Any) -> None:
    """Set a keyword an instrument's schema declares (Spitzer's CREATOR), wherever it put it."""
    paths = model.find_fits_keyword(keyword)
    if not paths:
        return
    *parents, leaf = paths[0].split(".")
    node = model
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)


def _plain(node: Any) -> Any:
    """stdatamodels wraps sub-trees in nodes; provenance is handled as plain dicts."""
    return getattr(node, "instance", node)


def read(path: Path) -> dict[str, Any]:
    """The provenance record of a product file (raises InputDataError if it has none)."""
    from .errors import InputDataError
    from .io import open_product

    with open_product(path) as model:
        record = _plain(getattr(model.meta, "provenance", None))
    if not record:
        raise InputDataError(f"{path}: no calpipe provenance (meta.provenance) in this file")
    return _to_builtin(record)


def _to_builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    return value


def format_text(record: dict[str, Any]) -> str:
    """A readable, complete rendering for `calpipe provenance`."""
    p = record["pipeline"]
    lines = [
        f"run {record['run_id']}  {record['date']}",
        f"pipeline {p['name']} {p['version']}  (definition sha256 {p['sha256'][:16]}…)",
        f"reference context {record.get('refdata_context') or 'none (overrides only)'}",
        "inputs:",
    ]
    for inp in record["inputs"]:
        made = inp.get("provenance")
        via = f"  <- {made['pipeline']['name']} {made['pipeline']['version']}" if made else ""
        lines.append(f"  {inp['name']}  sha256 {inp['sha256'][:16]}…{via}")
    lines.append("steps:")
    for s in record["steps"]:
        lines.append(f"  {s['id']:<16} {s['name']} {s['version']:<8} {s['status']:<9} "
                     f"{s['duration_s']:.3f} s")
        for k, v in s["params"].items():
            lines.append(f"      {k} = {v!r}")
        for r in s["refs"]:
            tag = "  (override)" if r["overridden"] else ""
            lines.append(f"      ref {r['reftype']}: {r['name']}  sha256 {r['sha256'][:16]}…{tag}")
        if s.get("error"):
            lines.append(f"      error: {s['error']}")
    sw = record["software"]
    lines.append("software: " + ", ".join(f"{k} {v}" for k, v in sw.items()
                                          if k not in ("plugins", PLATFORM)))
    if sw.get(PLATFORM):
        lines.append("platform: " + ", ".join(f"{k} {' '.join(v) if isinstance(v, list) else v}"
                                              for k, v in sw[PLATFORM].items()))
    if sw.get("plugins"):
        lines.append("plugins: " + ", ".join(f"{k} {v}" for k, v in sw["plugins"].items()))
    return "\n".join(lines)


def to_prov_document(record: dict[str, Any], product_name: str, product_sha256: str | None = None):
    """The record as a W3C PROV document (prov package): entities, activities, agents.

    Step parameters are typed attributes in the ``param`` namespace (numbers, booleans and
    strings as themselves; null, lists and mappings as JSON text of datatype calpipe:json);
    every file is an entity with its sha256; the run and each step that ran carry
    prov:startTime and prov:endTime (products made before steps recorded their start have none).
    """
    import json

    from prov.model import Literal, ProvDocument

    doc = ProvDocument()
    doc.add_namespace("calpipe", "https://calpipe.org/ns/")
    doc.add_namespace("param", "https://calpipe.org/ns/param/")
    doc.add_namespace("sha256", "urn:sha256:")

    def typed(value: Any) -> Any:
        if isinstance(value, (bool, int, float, str)):
            return value
        return Literal(json.dumps(value, sort_keys=True), datatype="calpipe:json")

    def file_entity(sha256: str, name: str, **attributes: Any):
        return doc.entity(f"sha256:{sha256}", {"prov:label": name, "calpipe:sha256": sha256, **attributes})

    software = doc.agent(f"calpipe:software/calpipe-{record['software']['calpipe']}",
                         {"prov:type": "prov:SoftwareAgent"})
    p = record["pipeline"]
    steps = record["steps"]
    times = [(_time(s["started"]), _time(s["started"]) + timedelta(seconds=s["duration_s"]))
             if s.get("started") else (None, None) for s in steps]
    starts = [t for t, _ in times if t is not None]
    ends = [_time(record["date"]), *(t for _, t in times if t is not None)]  # date: whole seconds
    run = doc.activity(f"calpipe:run/{record['run_id']}", min(starts) if starts else None,
                       max(ends) if starts else None, other_attributes={
        "calpipe:pipeline": p["name"], "calpipe:pipelineVersion": p["version"],
        "calpipe:definitionSha256": p["sha256"],
        "calpipe:refdataContext": typed(record.get("refdata_context")),
    })
    doc.wasAssociatedWith(run, software)
    if product_sha256:
        product = file_entity(product_sha256, product_name)
    else:
        product = doc.entity(f"calpipe:product/{product_name}", {"prov:label": product_name})
    doc.wasGeneratedBy(product, run)
    for inp in record["inputs"]:
        entity = file_entity(inp["sha256"], inp["name"])
        doc.used(run, entity)
        doc.wasDerivedFrom(product, entity)
    for s, (start, end) in zip(steps, times, strict=True):
        attributes = {"calpipe:step": s["name"], "calpipe:version": s["version"],
                      "calpipe:status": s["status"], "calpipe:durationSeconds": float(s["duration_s"])}
        attributes.update({f"param:{k}": typed(v) for k, v in s["params"].items()})
        step = doc.activity(f"calpipe:run/{record['run_id']}/{s['id']}", start, end, attributes)
        doc.wasInformedBy(step, run)
        for r in s["refs"]:
            ref = file_entity(r["sha256"], r["name"], **{
                "prov:type": "calpipe:ReferenceFile", "calpipe:reftype": r["reftype"],
                "calpipe:overridden": bool(r["overridden"])})
            doc.used(step, ref)
    return doc


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
