"""The pipeline YAML document: its schema, loading with a line index, validation against the schema.

What a file *says*, with file:line for every key; what it *means* (imports, registered
steps, parameters, precedence) is resolved in pipeline.py. The schema is also published
as JSON Schema by `calpipe schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import limits
from .errors import Problem, UsageError
from .params import did_you_mean

_ID = r"^[a-z][a-z0-9_]*$"
_SEMVER = r"^\d+\.\d+\.\d+$"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -- the document schema (also published as JSON Schema by `calpipe schema`) ----
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImportSpec(_Strict):
    """Take the steps of another pipeline (a registered name[@version] or a YAML path)."""

    pipeline: str = Field(description="registered pipeline name[@version], or a .yaml path under this "
                                      "file's directory")
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


class ReprocessSpec(_Strict):
    """Whether a release calls for reprocessing what earlier releases made (read by bulk planning)."""

    policy: Literal["required", "optional", "none"] = Field(description="none: an archive does not "
                                                            "reprocess for this release unless forced")
    reason: str = Field(description="why, for the operators")


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
    reprocess: ReprocessSpec | None = Field(None, description="reprocessing policy; not part of the "
                                            "definition (its sha256 does not change)")


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
        problems.append(Problem(str(path), None, "not a pipeline file (not UTF-8 text)",
                                "name a pipeline YAML file"))
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


def validate_doc(doc: YamlDoc, model: type[_Strict], problems: list[Problem]) -> Any:
    """Structural validation; every pydantic error becomes a located problem."""
    kind = "config" if model is ConfigSpec else "pipeline"
    if not isinstance(doc.data, dict) or not set(map(str, doc.data)) & set(model.model_fields):
        # said without quoting the file: it may be any file a user or an import pointed at
        problems.append(doc.problem((), f"not a {kind} file (its top level is not a mapping with any of "
                                        f"the keys {', '.join(model.model_fields)})"))
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
