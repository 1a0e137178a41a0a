"""The hooks a calpipe plugin implements.

A plugin is a module (or object) exposed under the entry-point group
``calpipe``; it implements any of these with ``@hookimpl``. Hooks are called
when their answer is first needed, so implementations should import their
step modules inside the hook, not at module level: that keeps `calpipe list`
and `strun --help` fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    """What a plugin says about an instrument it supports (and the detector facts generic steps need).

    ``frames`` gives the full frame (ny, nx) of each DETECTOR ("*": any other): the runner refuses
    Level 1-2 products whose last two axes are not that frame, or, with ``subarrays``, a window of
    it as wide and high as SUBSIZE1/SUBSIZE2 say; reference files must cover the full frame.
    """

    name: str
    telescope: str
    description: str = ""
    reference_pixels: ReferencePixels | None = None
    frames: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    subarrays: bool = False

    def frame(self, detector: str | None) -> tuple[int, int] | None:
        """The full frame of ``detector``, if the plugin declared it."""
        return self.frames.get(str(detector or "").upper(), self.frames.get("*"))


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
class RefContent:
    """What a file of one reference type must hold, beyond its REFTYPE keyword.

    Checked when it is added to a store, published, and opened for a run
    (calpipe.core.refcheck): a flat whose REFTYPE was edited to 'dark' is refused,
    not used as a dark. Ranges are what the type can physically hold, wide enough
    for any real detector of the instrument.
    """

    array: str = "data"  # the array holding the values ("dq" for a mask)
    planes: tuple[int | None, ...] = ()  # axes before the (ny, nx) frame; None: any length
    frame: tuple[int, int] | None = None  # fixed (ny, nx), e.g. (1, 1); default: the detector's full frame
    units: tuple[str, ...] = ()  # accepted BUNIT values of SCI (the keyword may be absent)
    median: tuple[float, float] | None = None  # plausible median of the finite values
    bounds: tuple[float, float] | None = None  # every finite value lies within
    absent: tuple[str, ...] = ()  # arrays this type never has (a mask has no 'data')


@dataclass(frozen=True)
class RefType:
    """A kind of reference file of one instrument, the header keywords that select it, and what it holds."""

    instrument: str
    reftype: str
    selectors: tuple[str, ...]
    description: str = ""
    content: RefContent | None = None


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


@dataclass(frozen=True)
class Calibration:
    """How an archive makes one reference type from a campaign's calibration exposures.

    A raw product whose INSTRUME is ``instrument`` (any case) and whose primary
    header has every ``match`` keyword at the given value is a calibration
    exposure of this kind: the archive files it as kind "calibration", not
    science. At the end of its campaign the exposures of one kind are split by
    the values of ``group_by`` (one reference file per group, e.g. per channel and
    frame time) and each group is run together, as one association, through
    ``pipeline``, which writes one reference file of ``reftype``. A group with
    fewer than ``minimum`` usable exposures makes no reference.
    """

    instrument: str
    reftype: str
    pipeline: str
    match: tuple[tuple[str, Any], ...]
    group_by: tuple[str, ...] = ()
    minimum: int = 3


@hookspec
def calpipe_calibrations() -> list[Calibration]:
    """Calibration pipelines of this plugin's instruments: which reftype each makes from which exposures."""


@hookspec
def calpipe_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `calpipe` subcommands; each parser sets ``func`` (args -> exit code) as a default."""


@hookspec
def calpipe_add_sim_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add an instrument simulator as `calpipe sim NAME`; the parser sets ``func`` as a default."""
