"""Pipeline definitions resolved: imports, registered steps, parameters and their precedence.

The YAML document itself (schema, loading with line numbers) is pipeline_file.py.

A pipeline file names registered steps only (never a Python path), so a YAML
file cannot make calpipe import arbitrary code. Every problem found in the
file, its imports, a --config file and the command line is collected and
reported at once, with file:line and a did-you-mean, before any data is read.

Parameter precedence, lowest first: step default < pipeline YAML < --config
file < command line. Each effective value remembers where it came from.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from . import params as params_mod
from .errors import ConfigProblems, Problem, UsageError
from .params import Params, did_you_mean
from .pipeline_file import ConfigSpec, PipelineSpec, YamlDoc, load_yaml, validate_doc
from .registry import Registry
from .roots import ALLOWED_DIRS_ENV, outside
from .step import Step

_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNDEFINED = object()  # a parameter whose ${name} could not be substituted


# -- resolved pipelines -------------------------------------------------------------
@dataclass
class ResolvedStep:
    id: str
    step: type[Step]
    params: Params
    sources: dict[str, str]
    skip: bool = False
    save: bool = False

    def definition(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step.name,
            "version": self.step.version,
            "params": self.params.model_dump(mode="json"),
            "skip": self.skip,
        }


@dataclass
class ResolvedPipeline:
    """A pipeline with every step bound to a class version and every parameter validated."""

    name: str
    version: str
    description: str
    instrument: str | None
    input_level: int
    output_level: int
    suffix: str
    refdata: int | None
    source: str
    steps: list[ResolvedStep] = field(default_factory=list)
    # pipeline-level ${name} values and their source; resolved into the steps, so not in the definition
    parameters: dict[str, tuple[Any, str]] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """The frozen, JSON-able form embedded in every product's provenance."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "instrument": self.instrument,
            "input": self.input_level,
            "output": self.output_level,
            "suffix": self.suffix,
            "refdata": self.refdata,
            "steps": [s.definition() for s in self.steps],
        }

    @classmethod
    def from_definition(cls, definition: dict[str, Any], registry: Registry, source: str) -> ResolvedPipeline:
        """Rebuild a run's pipeline from its frozen definition: the same step versions and parameters.

        Raises UsageError naming every step version that is no longer registered
        and every parameter the registered class no longer accepts.
        """
        problems = []
        pipeline = cls(definition["name"], definition["version"], definition.get("description", ""),
                       definition.get("instrument"), definition["input"], definition["output"],
                       definition["suffix"], definition.get("refdata"), source)
        for s in definition["steps"]:
            try:
                step = registry.step(s["step"], s["version"])
            except LookupError as exc:
                problems.append(f"step '{s['id']}': {exc}; install the calpipe release that had it")
                continue
            params, errors = params_mod.validate(step.Params, s["params"])
            problems += [f"step '{s['id']}': {e.message}" for e in errors]
            if params is not None:
                pipeline.steps.append(ResolvedStep(s["id"], step, params, dict.fromkeys(s["params"], source),
                                                   s.get("skip", False)))
        if problems:
            raise UsageError(f"{source}: cannot rebuild pipeline {pipeline.name} {pipeline.version}:\n  "
                             + "\n  ".join(problems))
        return pipeline

    def canonical_json(self) -> str:
        """The definition as canonical JSON: the exact text embedded in provenance and hashed."""
        return json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def combines(self) -> bool:
        """True if a step makes one product of many inputs: the run takes a whole association."""
        return any(s.step.combines for s in self.steps if not s.skip)

    def reftypes(self) -> list[str]:
        """Reference types the steps that will run need, in first-use order."""
        seen: dict[str, None] = {}
        for s in self.steps:
            if not s.skip:
                seen.update(dict.fromkeys(s.step.reftypes))
        return list(seen)


@dataclass
class Overrides:
    """Values from --config and the command line, each with its source."""

    config: Path | None = None
    step_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    skip: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """A step entry while imports and overrides are merged."""

    id: str
    step: str | None
    version: str | None
    params: dict[str, Any]
    sources: dict[str, str]
    skip: bool
    save: bool
    where: Problem  # location of the entry, for messages


class _Resolver:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.problems: list[Problem] = []

    def locate(self, ref: str, relative_to: Path | None = None) -> Path | None:
        """A YAML path, or a registered name with an optional @version.

        An import (``relative_to`` is the importing file) resolves to a registered pipeline, or to a
        .yaml/.yml file under the importing file's directory or $CALPIPE_ALLOWED_DIRS: a pipeline
        file cannot make calpipe read (and quote) any other file.
        """
        candidate = Path(ref)
        if relative_to is not None and not candidate.is_absolute():
            candidate = relative_to.parent / candidate
        if ref.endswith((".yaml", ".yml")) or "/" in ref:  # a name is never taken for a stray file
            if relative_to is not None:
                self._check_import(ref, candidate, relative_to)
            return candidate
        name, _, version = ref.partition("@")
        return self.registry.pipeline_file(name, version or None).path

    def _check_import(self, ref: str, candidate: Path, importer: Path) -> None:
        if not ref.endswith((".yaml", ".yml")):
            raise UsageError(f"import '{ref}' is not a pipeline file (import a registered pipeline by "
                             "NAME[@VERSION], or a .yaml file)")
        shipped = [f.path.resolve().parent for n in self.registry.pipeline_names()
                   for v in self.registry.pipeline_versions(n) for f in [self.registry.pipeline_file(n, v)]]
        if outside(candidate, importer.parent, shipped):
            raise UsageError(f"import '{ref}' is outside {importer.parent} (imports are registered "
                             f"pipelines or YAML files under the importing file's directory; allow "
                             f"another directory with ${ALLOWED_DIRS_ENV})")

    def read(self, path: Path, chain: tuple[Path, ...] = ()
             ) -> tuple[PipelineSpec, YamlDoc, list[_Entry], dict] | None:
        doc = load_yaml(path, self.problems)
        if doc is None:
            return None
        spec = validate_doc(doc, PipelineSpec, self.problems)
        if spec is None:
            return None
        entries: list[_Entry] = []
        parameters: dict[str, tuple[Any, str]] = {}
        imported_by: dict[str, int] = {}  # step id -> the import it came from
        for i, imp in enumerate(spec.imports):
            loc = ("imports", i, "pipeline")
            try:
                target = self.locate(imp.pipeline, path)
            except UsageError as exc:
                self.problems.append(doc.problem(loc, str(exc)))
                continue
            if target.resolve() in chain or target.resolve() == path.resolve():
                self.problems.append(doc.problem(loc, f"import cycle through {target}"))
                continue
            if len(chain) + 1 >= limits.MAX_IMPORT_DEPTH:
                self.problems.append(doc.problem(loc, f"imports nested more than {limits.MAX_IMPORT_DEPTH} "
                                                 "deep", "import the pipeline the chain ends in directly"))
                continue
            imported = self.read(target, (*chain, path.resolve()))
            if imported is None:
                continue
            _, _, imported_entries, imported_params = imported
            ids = [e.id for e in imported_entries]
            for key in ("include", "exclude"):
                for j, sid in enumerate(getattr(imp, key) or []):
                    if sid not in ids:
                        self.problems.append(doc.problem(
                            ("imports", i, key, j), f"'{sid}' is not a step of {imp.pipeline}",
                            did_you_mean(sid, ids)))
            keep = [e for e in imported_entries
                    if (imp.include is None or e.id in imp.include) and e.id not in imp.exclude]
            for e in keep:
                if e.id in imported_by:
                    first = imported_by[e.id]
                    self.problems.append(doc.problem(
                        loc, f"duplicate step id '{e.id}': imported by imports[{first}] "
                             f"({spec.imports[first].pipeline}) and imports[{i}] ({imp.pipeline})",
                        "exclude it from one of them: a step must not run twice"))
                    continue
                imported_by[e.id] = i
                entries.append(e)
            parameters.update(imported_params)
        for name, value in spec.parameters.items():
            parameters[name] = (value, f"{path}:{doc.line(('parameters', name))}")
        by_id = {e.id: e for e in entries}
        seen_here: set[str] = set()
        for i, s in enumerate(spec.steps):
            where = doc.problem(("steps", i, "step"), "")
            if s.id in seen_here:
                self.problems.append(doc.problem(("steps", i, "id"), f"duplicate step id '{s.id}'"))
                continue
            seen_here.add(s.id)
            sources = {k: f"{path}:{doc.line(('steps', i, 'params', k))}" for k in s.params}
            if s.id in by_id:  # override of an imported step
                e = by_id[s.id]
                if s.step is not None and s.step != e.step:
                    self.problems.append(doc.problem(("steps", i, "step"),
                                         f"step id '{s.id}' is imported as '{e.step}', not '{s.step}'",
                                         "use a new id to add a different step"))
                e.version = s.version or e.version
                e.params = {**e.params, **s.params}
                e.sources = {**e.sources, **sources}
                e.skip = e.skip if s.skip is None else s.skip
                e.save = e.save if s.save is None else s.save
                continue
            if s.step is None:
                self.problems.append(doc.problem(("steps", i), f"step '{s.id}' has no 'step:' name",
                                     did_you_mean(s.id, list(by_id)) or "name a registered step"))
                continue
            e = _Entry(s.id, s.step, s.version, dict(s.params), sources, bool(s.skip), bool(s.save), where)
            entries.append(e)
            by_id[s.id] = e
        return spec, doc, entries, parameters


def resolve(ref: str, registry: Registry, overrides: Overrides | None = None) -> ResolvedPipeline:
    """Load, validate and resolve a pipeline; raise ConfigProblems listing every problem."""
    overrides = overrides or Overrides()
    r = _Resolver(registry)
    path = r.locate(ref)
    loaded = r.read(path)
    if loaded is None:
        raise ConfigProblems(r.problems)
    spec, _doc, entries, parameters = loaded
    by_id = {e.id: e for e in entries}

    defined = set(parameters)
    if overrides.config is not None:
        _apply_config(overrides.config, by_id, parameters, r.problems, defined)
    for name, value in overrides.parameters.items():
        if name not in defined:
            r.problems.append(Problem("command line", None, f"--set {name}: {spec.name} has no pipeline "
                                      f"parameter '{name}'", did_you_mean(name, list(defined))
                                      or "set a step parameter with --set ID.PARAM=VALUE"))
        parameters[name] = (value, "command line")
    for sid, values in overrides.step_params.items():
        if sid not in by_id:
            r.problems.append(Problem("command line", None, f"no step with id '{sid}' in {spec.name}",
                                      did_you_mean(sid, list(by_id))))
            continue
        by_id[sid].params.update(values)
        by_id[sid].sources.update(dict.fromkeys(values, "command line"))
    for sid in overrides.skip:
        if sid not in by_id:
            r.problems.append(Problem("command line", None, f"--skip: no step with id '{sid}'",
                                      did_you_mean(sid, list(by_id))))
        else:
            by_id[sid].skip = True

    resolved = ResolvedPipeline(
        name=spec.name, version=spec.version, description=spec.description,
        instrument=spec.instrument, input_level=spec.input, output_level=spec.output,
        suffix=spec.suffix or spec.name, refdata=spec.refdata, source=str(path),
        parameters=dict(parameters),
    )
    for e in entries:
        step = _bind_step(e, spec.instrument, registry, r.problems)
        if step is None:
            continue
        values = {k: _substitute(v, parameters, e, k, r.problems) for k, v in e.params.items()}
        values = {k: v for k, v in values.items() if v is not _UNDEFINED}
        model, errors = params_mod.validate(step.Params, values)
        for err in errors:
            r.problems.append(_at(e.sources.get(err.key), e.where, f"step '{e.id}': {err.message}", err.hint))
        if model is not None:
            sources = {k: e.sources.get(k, "default") for k in step.Params.model_fields}
            resolved.steps.append(ResolvedStep(e.id, step, model, sources, e.skip, e.save))
    if r.problems:
        raise ConfigProblems(r.problems)
    return resolved


def _bind_step(e: _Entry, instrument: str | None, registry: Registry,
               problems: list[Problem]) -> type[Step] | None:
    if "." in e.step or ":" in e.step or "/" in e.step:
        problems.append(_replace(e.where, f"step '{e.id}': '{e.step}' looks like a Python path; "
                                 "pipelines name registered steps only",
                                 "register the class through a calpipe plugin and use its name"))
        return None
    try:
        step = registry.step(e.step, e.version)
    except LookupError as exc:
        problems.append(_replace(e.where, f"step '{e.id}': {exc}"))
        return None
    if not step.applies_to(instrument):
        problems.append(_replace(e.where, f"step '{e.id}': {step.key()} is for "
                                 f"{', '.join(step.instruments or ())}, not '{instrument}'"))
        return None
    return step


def _substitute(value: Any, parameters: dict[str, tuple[Any, str]], e: _Entry, key: str,
                problems: list[Problem]) -> Any:
    """Replace ${name}: a whole-string reference keeps the parameter's type."""
    if not isinstance(value, str) or "${" not in value:
        return value
    missing = [n for n in _SUBST.findall(value) if n not in parameters]
    if missing:
        problems.append(_at(e.sources.get(key), e.where, f"step '{e.id}': parameter '{key}' uses "
                            f"undefined ${{{missing[0]}}}", did_you_mean(missing[0], list(parameters))
                            or "define it under 'parameters:'"))
        return _UNDEFINED
    whole = _SUBST.fullmatch(value)
    if whole:
        substituted, source = parameters[whole.group(1)]
        e.sources[key] = f"{source} via ${{{whole.group(1)}}}"
        return substituted
    return _SUBST.sub(lambda m: str(parameters[m.group(1)][0]), value)


def _apply_config(path: Path, by_id: dict[str, _Entry], parameters: dict, problems: list[Problem],
                  defined: set[str]) -> None:
    doc = load_yaml(path, problems)
    if doc is None:
        return
    spec = validate_doc(doc, ConfigSpec, problems)
    if spec is None:
        return
    for name, value in spec.parameters.items():
        if name not in defined:
            problems.append(doc.problem(("parameters", name), f"the pipeline has no parameter '{name}'",
                                        did_you_mean(name, list(defined))))
        parameters[name] = (value, f"config {path}:{doc.line(('parameters', name))}")
    for sid, values in spec.steps.items():
        if sid not in by_id:
            problems.append(doc.problem(("steps", sid), f"no step with id '{sid}'",
                                        did_you_mean(sid, list(by_id))))
            continue
        by_id[sid].params.update(values)
        for k in values:
            by_id[sid].sources[k] = f"config {path}:{doc.line(('steps', sid, k))}"


def _at(source: str | None, fallback: Problem, message: str, hint: str | None) -> Problem:
    """A problem at 'file:line' taken from a parameter's source, else at the step entry."""
    if source and ":" in source and not source.startswith("command line"):  # file:line [via ${x}]
        file, _, rest = source.removeprefix("config ").rpartition(":")
        line = rest.split()[0]
        return Problem(file, int(line) if line.isdigit() else None, message, hint)
    if source and source.startswith("command line"):
        return Problem("command line", None, message, hint)
    return _replace(fallback, message, hint)


def _replace(where: Problem, message: str, hint: str | None = None) -> Problem:
    return Problem(where.file, where.line, message, hint)
