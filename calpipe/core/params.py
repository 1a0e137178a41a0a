"""Typed step parameters: pydantic models with defaults, bounds and one-line help.

A step declares ``class Params(calpipe.core.params.Params)`` with fields such as
``threshold: float = Field(4.0, gt=0, description="jump threshold in sigma")``.
Validation happens once, when a pipeline is resolved, never per product.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Params(BaseModel):
    """Base for every step's parameters: unknown names are errors, values are frozen.

    Floats must be finite (a `.inf` threshold would pass validation and fail at write
    time, or silently disable a step); a field that means it says ``allow_inf_nan=True``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """A 'did you mean X?' hint, or None when nothing is close."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass(frozen=True)
class ParamError:
    key: str
    message: str
    hint: str | None = None


def validate(params_cls: type[Params], values: dict[str, Any]) -> tuple[Params | None, list[ParamError]]:
    """Validate ``values`` against ``params_cls``; return the model or every problem found."""
    try:
        return params_cls(**values), []
    except ValidationError as exc:
        known = list(params_cls.model_fields)
        errors = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "extra_forbidden":
                hint = did_you_mean(key, known) or f"known parameters: {', '.join(known) or 'none'}"
                errors.append(ParamError(key, f"unknown parameter '{key}'", hint))
            else:
                got = err.get("input")
                errors.append(ParamError(key, f"bad value {got!r} for '{key}': {err['msg']}"))
        return None, errors


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: Any
    help: str
    bounds: str


def describe(params_cls: type[Params]) -> list[ParamInfo]:
    """Name, type, default, help and bounds of every parameter, for --help and `show`."""
    infos = []
    for name, field in params_cls.model_fields.items():
        bounds = []
        for meta in field.metadata:
            for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                if getattr(meta, attr, None) is not None:
                    bounds.append(f"{sym}{getattr(meta, attr)}")
        annotation = field.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        infos.append(ParamInfo(name, type_name, field.default, field.description or "", " ".join(bounds)))
    return infos
