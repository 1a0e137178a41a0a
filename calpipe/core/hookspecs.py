"""The hooks a calpipe plugin implements.

A plugin is a module (or object) exposed under the entry-point group
``calpipe``; it implements any of these with ``@hookimpl``. Hooks are called
when their answer is first needed, so implementations should import their
step modules inside the hook, not at module level: that keeps `calpipe list`
and `strun --help` fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .refs import RefResolver
    from .step import Step

PROJECT = "calpipe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class ReferencePixels:
    """Where an instrument's detectors keep their reference pixels, for the generic refpix step.

    Only a readout of ``frame`` (ny, nx) pixels carries the border: ``border``
    rows and columns on every side that see no light, read by amplifiers of
    ``amp_width`` columns each.
    """

    frame: tuple[int, int]
    border: int
    amp_width: int


@dataclass(frozen=True)
class Instrument:
    """What a plugin says about an instrument it supports (and the detector facts generic steps need)."""

    name: str
    telescope: str
    description: str = ""
    reference_pixels: ReferencePixels | None = None


@hookspec
def calpipe_instruments() -> list[Instrument]:
    """Instruments this plugin adds."""


@hookspec
def calpipe_steps() -> list[type[Step]]:
    """Step classes this plugin adds (every version that should stay runnable)."""


@hookspec
def calpipe_pipelines() -> list[Path]:
    """Pipeline YAML files this plugin ships (use importlib.resources to find them)."""


def shipped_pipelines(package: str, folder: str = "pipelines") -> list[Path]:
    """The pipeline YAML files in ``folder`` of an installed ``package``, for ``calpipe_pipelines``."""
    from importlib import resources

    return sorted(Path(str(resources.files(package) / folder)).glob("*.yaml"))


@hookspec
def calpipe_models() -> list[type]:
    """Product model classes (stdatamodels DataModel subclasses) this plugin adds."""


@dataclass(frozen=True)
class RefType:
    """A kind of reference file of one instrument, and the header keywords that select it."""

    instrument: str
    reftype: str
    selectors: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class RefSet:
    """A deterministic builder of reference files, published in built-in context ``context``.

    ``build()`` returns (file name, ReferenceFileModel) pairs; the same software
    must give the same bytes every time, so that published hashes stay valid.
    """

    name: str
    context: int
    build: Callable[[], list[tuple[str, Any]]]


@hookspec
def calpipe_reftypes() -> list[RefType]:
    """Reference types this plugin's steps use, with their selection keywords."""


@hookspec
def calpipe_refsets() -> list[RefSet]:
    """Built-in (demo or simulation) reference-file sets this plugin can build offline."""


@hookspec(firstresult=True)
def calpipe_ref_resolver(pipeline: Any, context: int | None, store: Path | None,
                         overrides: dict[str, Path], registry: Any) -> RefResolver | None:
    """A reference resolver for a run (the reference-data system implements this).

    ``registry`` is the Registry the pipeline was resolved with (its reference types and sets).
    """


@dataclass(frozen=True)
class Processing:
    """How an archive processes a raw product of one kind by default, up to Level 2.

    A raw product whose INSTRUME is ``instrument`` (any case) and whose primary
    header has every ``match`` keyword at the given value goes through ``chain``:
    registered pipeline names, each run on the previous one's product.
    """

    instrument: str
    chain: tuple[str, ...]
    match: tuple[tuple[str, Any], ...] = ()


@hookspec
def calpipe_processing() -> list[Processing]:
    """Default processing chains for the raw products of this plugin's instruments (the archive runs them)."""


@hookspec
def calpipe_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `calpipe` subcommands; each parser sets ``func`` (args -> exit code) as a default."""


@hookspec
def calpipe_add_sim_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add an instrument simulator as `calpipe sim NAME`; the parser sets ``func`` as a default."""
