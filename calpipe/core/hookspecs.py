"""The hooks a calpipe plugin implements.

A plugin is a module (or object) exposed under the entry-point group
``calpipe``; it implements any of these with ``@hookimpl``. Hooks are called
when their answer is first needed, so implementations should import their
step modules inside the hook, not at module level: that keeps `calpipe list`
and `strun --help` fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .step import Step

PROJECT = "calpipe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class Instrument:
    """What a plugin says about an instrument it supports."""

    name: str
    telescope: str
    description: str = ""


@hookspec
def calpipe_instruments() -> list[Instrument]:
    """Instruments this plugin adds."""


@hookspec
def calpipe_steps() -> list[type[Step]]:
    """Step classes this plugin adds (every version that should stay runnable)."""


@hookspec
def calpipe_pipelines() -> list[Path]:
    """Pipeline YAML files this plugin ships (use importlib.resources to find them)."""


@hookspec
def calpipe_models() -> list[type]:
    """Product model classes (stdatamodels DataModel subclasses) this plugin adds."""
