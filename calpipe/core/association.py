"""Associations: the set of products one multi-input (Level 3) run combines.

An association is a small YAML or JSON file naming the observation and its
members (paths relative to the file); several product files given directly on
the command line form one too. Members travel through a pipeline as a
`ProductSet` until a combining step makes one product of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import limits
from .errors import InputDataError
from .roots import ALLOWED_DIRS_ENV, outside

ASSOCIATION_SUFFIXES = (".yaml", ".yml", ".json")


class AssociationSpec(BaseModel):
    """An association file: which products make one observation's Level 3 product."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$",
                      description="observation name; the stem of the output files")
    observation: str | None = Field(None, description="what the members observed (e.g. an AORKEY)")
    members: list[str] = Field(min_length=1, description="member product files, relative to this file")


@dataclass(frozen=True)
class Group:
    """The inputs of one run: one product for ordinary pipelines, many for combining ones."""

    name: str  # output stem
    members: tuple[Path, ...]
    source: Path  # what messages name: the association file or the single input

    @classmethod
    def of(cls, path: Path) -> Group:
        """A group of one input file."""
        path = Path(path)
        return cls(path.stem, (path,), path)


def load_association(path: Path) -> Group:
    """Read and check an association file; every problem names the file and the fix."""
    import json

    import yaml

    path = Path(path)
    try:
        text = limits.read_text(path, limits.MAX_YAML_BYTES, InputDataError, "association file")
        data = (json.loads(text) if path.suffix == ".json"
                else limits.safe_yaml(text, str(path), InputDataError))
    except FileNotFoundError:
        raise InputDataError(f"{path}: association file not found (check the path)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, yaml.YAMLError) as exc:
        raise InputDataError(f"{path}: not a readable association file ({exc})") from None
    try:
        spec = AssociationSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise InputDataError(f"{path}: not an association ({problems}); it needs 'name' and a "
                             "'members' list of product files") from None
    members = tuple((path.parent / m) for m in spec.members)
    away = [m for m, member in zip(spec.members, members, strict=True) if outside(member, path.parent)]
    if away:
        raise InputDataError(f"{path}: member(s) {', '.join(away)} outside {path.parent} (members are files "
                             f"under the association's directory; allow another with ${ALLOWED_DIRS_ENV})")
    missing = [str(m) for m in members if not _is_file(m)]
    if missing:
        raise InputDataError(f"{path}: member(s) not found: {', '.join(missing)} (paths are relative to "
                             "the association file)")
    real = [m.resolve() for m in members]
    same = sorted({f"{a} and {b}" for i, (a, ra) in enumerate(zip(spec.members, real, strict=True))
                   for b, rb in zip(spec.members[i + 1:], real[i + 1:], strict=True) if ra == rb})
    if same:
        raise InputDataError(f"{path}: members {'; '.join(same)} are one file (a link or the same path "
                             "twice): each product counts once, list it once")
    names = [m.name for m in members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputDataError(f"{path}: more than one member named {', '.join(twice)} (outputs and provenance "
                             "tell members by file name: list each product once, renaming copies)")
    return Group(spec.name, members, path)


def _is_file(path: Path) -> bool:
    """Path.is_file, with a name too long (or otherwise unusable) counted as not found."""
    try:
        return path.is_file()
    except OSError:
        return False


def refuse_same_data(source: Path, names: list[str], digests: list[str]) -> None:
    """Members of one combined product with the same bytes (a copy under another name) are refused:
    each frame counts once (NCOMBINE, weights, outlier rejection)."""
    first: dict[str, str] = {}
    for name, digest in zip(names, digests, strict=True):
        other = first.setdefault(digest, name)
        if other != name:
            raise InputDataError(f"{source}: members {other} and {name} hold the same bytes (sha256 "
                                 f"{digest[:16]}…): each frame counts once; leave the copy out")


def group_name(paths: list[Path], fallback: str) -> str:
    """The name fields loose member files share, without their product suffix.

    SPITZER_M1_23456789_0001_0001_0000_bcd and SPITZER_M2_23456789_0002_0002_0000_bcd
    give SPITZER_23456789_0000 (fields equal at the same place, when every name has
    as many); OBS_0042_0001_cal and OBS_0042_0002_cal give OBS_0042.
    """
    fields = [Path(p).stem.split("_") for p in paths]
    if len({len(f) for f in fields}) == 1:
        common = [parts[0] for parts in zip(*fields, strict=True) if len(set(parts)) == 1]
    else:
        common = []
        for parts in zip(*fields, strict=False):
            if len(set(parts)) > 1:
                break
            common.append(parts[0])
    if len(common) > 1 and common[-1].isalpha() and common[-1].islower():  # _bcd, _cal: what made them
        common.pop()
    return "_".join(common) or fallback


class ProductSet:
    """Members of a multi-input run, each with a label (its file stem or a group value).

    ``made_from`` maps the label of a combined product to the labels of the members
    it was made from (e.g. a mosaic per band), so its provenance names only those.
    """

    def __init__(self, items: list[tuple[str, Any]], made_from: dict[str, list[str]] | None = None):
        self.items = list(items)
        self.made_from = made_from or {}

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.items)

    @property
    def products(self) -> list[Any]:
        return [p for _, p in self.items]

    def first(self) -> Any:
        return self.items[0][1]
