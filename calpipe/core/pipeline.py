"""Pipeline definitions: YAML schema, loading with line numbers, imports, resolution.

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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import limits
from . import params as params_mod
from .errors import ConfigProblems, Problem, UsageError
from .params import Params, did_you_mean
from .registry import Registry
from .step import Step

_ID = r"^[a-z][a-z0-9_]*$"
_SEMVER = r"^\d+\.\d+\.\d+$"
_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_UNDEFINED = object()  # a parameter whose ${name} could not be substituted


# -- the document schema (also published as JSON Schema by `calpipe schema`) ----
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImportSpec(_Strict):
    """Take the steps of another pipeline (a registered name[@version] or a YAML path)."""

    pipeline: str = Field(description="registered pipeline name[@version], or a path relative to this file")
    include: list[str] | None = Field(None, description="step ids to take (default: all)")
    exclude: list[str] = Field(default_factory=list, description="step ids to leave out")


class StepSpec(_Strict):
    """One step of the pipeline, or an override of an imported step with the same id."""

    id: str = Field(pattern=_ID, description="unique id of the step within the pipeline")
    step: str | None = Field(None, description="registered step name (never a Python path)")
    version: str | None = Field(None, pattern=_SEMVER, description="pin a step version (default: newest)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameter values; ${name} substitutes")
    skip: bool | None = Field(None, description="do not run this step")
    save: bool | None = Field(None, description="also write the product after this step")


class PipelineSpec(_Strict):
    """A calpipe pipeline definition."""

    name: str = Field(pattern=_ID, description="registry name of the pipeline")
    version: str = Field(pattern=_SEMVER, description="release version; released files are never edited")
    description: str = Field("", description="what the pipeline makes")
    instrument: str | None = Field(None, description="instrument plugin name (omit for generic pipelines)")
    input: int = Field(ge=0, le=3, description="data level of the input products")
    output: int = Field(ge=0, le=3, description="data level of the output product")
    suffix: str | None = Field(None, pattern=_ID, description="output file suffix (default: pipeline name)")
    refdata: int | None = Field(None, ge=0, description="default reference-data context number")
    imports: list[ImportSpec] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict, description="values for ${name} in step params")
    steps: list[StepSpec] = Field(default_factory=list)


class ConfigSpec(_Strict):
    """A --config file: parameter values that override the pipeline's."""

    parameters: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict, description="step id -> {param: value}")


def json_schema() -> dict[str, Any]:
    return PipelineSpec.model_json_schema()


# -- YAML with line numbers -------------------------------------------------------
@dataclass
class YamlDoc:
    path: Path
    data: Any
    lines: dict[tuple, int]

    def line(self, loc: tuple) -> int | None:
        """Line of the deepest known node on the path ``loc``."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def problem(self, loc: tuple, message: str, hint: str | None = None) -> Problem:
        return Problem(str(self.path), self.line(loc), message, hint)


def load_yaml(path: Path, problems: list[Problem]) -> YamlDoc | None:
    """Parse ``path`` keeping each key's line; syntax errors and duplicate keys become problems."""
    try:
        text = limits.read_text(path, limits.MAX_YAML_BYTES, UsageError, "pipeline or config file")
    except FileNotFoundError:
        problems.append(Problem(str(path), None, "file not found", "check the path"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(str(path), None, "not a pipeline file (not UTF-8 text)"))
        return None
    except OSError as exc:
        problems.append(Problem(str(path), None, f"cannot read file: {exc.strerror or exc}"))
        return None
    except UsageError as exc:
        problems.append(Problem(str(path), None, str(exc).removeprefix(f"{path}: ")))
        return None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        limits.check_yaml_size(node, str(path), UsageError)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problems.append(Problem(str(path), line, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    except UsageError as exc:
        problems.append(Problem(str(path), None, str(exc).removeprefix(f"{path}: ")))
        return None
    except RecursionError:
        problems.append(Problem(str(path), None,
                                f"YAML nested more than {limits.MAX_YAML_DEPTH} levels deep"))
        return None
    finally:
        loader.dispose()
    doc = YamlDoc(path, data, {})
    if node is not None:
        _index_lines(node, (), doc, problems)
    return doc


def _index_lines(node: yaml.Node, loc: tuple, doc: YamlDoc, problems: list[Problem]) -> None:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(str(doc.path), key_node.start_mark.line + 1, f"duplicate key '{key}'",
                            "YAML keeps only the last one; remove the other")
                )
            seen.add(key)
            doc.lines[(*loc, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*loc, key), doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*loc, i), doc, problems)


def _validate_doc(doc: YamlDoc, model: type[_Strict], problems: list[Problem]) -> Any:
    """Structural validation; every pydantic error becomes a located problem."""
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "expected a mapping of keys at the top level"))
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                parent = _model_at(model, loc[:-1])
                hint = did_you_mean(str(loc[-1]), list(parent.model_fields)) if parent else None
                problems.append(doc.problem(loc, f"unknown key '{_dotted(loc)}'", hint))
            elif err["type"] == "missing":
                problems.append(doc.problem(loc[:-1], f"missing required key '{_dotted(loc)}'"))
            else:
                got = err.get("input")
                problems.append(doc.problem(loc, f"'{_dotted(loc)}': {err['msg']} (got {got!r})"))
        return None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that describes the mapping at ``loc``, to suggest its keys."""
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = [a for a in inner if issubclass(a, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _dotted(loc: tuple) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def read_header(path: Path) -> dict[str, Any]:
    """The top-level keys of a pipeline file, for the registry's index and `calpipe list`."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    if not isinstance(data, dict) or "name" not in data or "version" not in data:
        raise UsageError(f"{path}: a pipeline file needs 'name' and 'version' keys")
    data["version"] = str(data["version"])
    return data


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
        """A YAML path, or a registered name with an optional @version."""
        candidate = Path(ref)
        if relative_to is not None and not candidate.is_absolute():
            candidate = relative_to.parent / candidate
        if ref.endswith((".yaml", ".yml")) or "/" in ref:  # a name is never taken for a stray file
            return candidate
        name, _, version = ref.partition("@")
        return self.registry.pipeline_file(name, version or None).path

    def read(self, path: Path, chain: tuple[Path, ...] = ()
             ) -> tuple[PipelineSpec, YamlDoc, list[_Entry], dict] | None:
        doc = load_yaml(path, self.problems)
        if doc is None:
            return None
        spec = _validate_doc(doc, PipelineSpec, self.problems)
        if spec is None:
            return None
        entries: list[_Entry] = []
        parameters: dict[str, tuple[Any, str]] = {}
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
            entries.extend(keep)
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
    spec = _validate_doc(doc, ConfigSpec, problems)
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
