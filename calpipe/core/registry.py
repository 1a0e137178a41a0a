"""Plugin discovery and lookup: steps, pipelines, models and instruments.

Everything, built-in or third-party, arrives through the ``calpipe``
entry-point group and pluggy hooks; the core imports no instrument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import RegistryError, UsageError
from .params import did_you_mean
from .step import Step, parse_version


@dataclass(frozen=True)
class PipelineFile:
    name: str
    version: str
    path: Path
    plugin: str
    instrument: str | None
    description: str


class Registry:
    """The installed plugins and what they provide, each loaded on first use."""

    def __init__(self, manager: pluggy.PluginManager):
        self._pm = manager

    @classmethod
    def load(cls, extra_plugins: tuple[Any, ...] = (), entry_points: bool = True) -> Registry:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        if entry_points:
            try:
                pm.load_setuptools_entrypoints(hookspecs.PROJECT)
            except Exception as exc:  # a broken third-party plugin must be named
                raise RegistryError(f"could not load a calpipe plugin: {exc}") from exc
        for plugin in extra_plugins:
            pm.register(plugin)
        return cls(pm)

    # -- who provided what ---------------------------------------------------
    def _describe_plugin(self, plugin_name: str) -> str:
        plugin = self._pm.get_plugin(plugin_name)
        for registered, dist in self._pm.list_plugin_distinfo():
            if registered is plugin:
                return f"plugin '{plugin_name}' ({dist.project_name} {dist.version})"
        return f"plugin '{plugin_name}'"

    def plugin_versions(self) -> dict[str, str]:
        """Distribution name -> version for every plugin distribution, for provenance."""
        return {dist.project_name: dist.version for _, dist in self._pm.list_plugin_distinfo()}

    def plugin_names_by_distribution(self) -> dict[tuple[str, str], list[str]]:
        """(distribution, version) -> the names of the plugins it registered."""
        found: dict[tuple[str, str], list[str]] = {}
        for plugin, dist in self._pm.list_plugin_distinfo():
            found.setdefault((dist.project_name, dist.version), []).append(self._pm.get_name(plugin))
        return {k: sorted(v) for k, v in found.items()}

    def distributions_providing(self, hook: str, match: Callable[[Any], bool]) -> set[str]:
        """The distributions whose plugins' ``hook`` returned an item ``match`` accepts."""
        names = {name for name, item in self._collect(getattr(self._pm.hook, hook)) if match(item)}
        return {dist.project_name for plugin, dist in self._pm.list_plugin_distinfo()
                if self._pm.get_name(plugin) in names}

    def _collect(self, hook: pluggy.HookCaller) -> list[tuple[str, Any]]:
        # Calling each implementation separately lets a conflict name both plugins.
        found = []
        for impl in reversed(hook.get_hookimpls()):
            for item in impl.function() or ():
                found.append((impl.plugin_name, item))
        return found

    # -- steps ---------------------------------------------------------------
    @functools.cached_property
    def _steps(self) -> dict[str, dict[str, tuple[type[Step], str]]]:
        steps: dict[str, dict[str, tuple[type[Step], str]]] = {}
        for plugin_name, cls in self._collect(self._pm.hook.calpipe_steps):
            if not (isinstance(cls, type) and issubclass(cls, Step)):
                raise RegistryError(
                    f"{self._describe_plugin(plugin_name)} registered {cls!r}, which is not a Step"
                )
            versions = steps.setdefault(cls.name, {})
            if cls.version in versions and versions[cls.version][0] is not cls:
                other_cls, other_plugin = versions[cls.version]
                raise RegistryError(
                    f"step '{cls.name}' version {cls.version} is registered twice: by "
                    f"{self._describe_plugin(other_plugin)} as {_qualname(other_cls)} and by "
                    f"{self._describe_plugin(plugin_name)} as {_qualname(cls)}; "
                    "uninstall one, or give one a new name or version"
                )
            versions[cls.version] = (cls, plugin_name)
        return steps

    def step_names(self) -> list[str]:
        return sorted(self._steps)

    def step_versions(self, name: str) -> list[str]:
        """Registered versions of a step, oldest first."""
        return sorted(self._steps.get(name, {}), key=parse_version)

    def step(self, name: str, version: str | None = None) -> type[Step]:
        """The step class by registry name; unless one is pinned, the newest version not opt-in."""
        versions = self._steps.get(name)
        if not versions:
            hint = did_you_mean(name, self._steps) or "see `calpipe list` for registered steps"
            raise LookupError(f"unknown step '{name}' ({hint})")
        if version is None:
            default = [v for v in self.step_versions(name) if not versions[v][0].opt_in]
            version = (default or self.step_versions(name))[-1]
        if version not in versions:
            raise LookupError(
                f"step '{name}' has no version {version} (registered: "
                f"{', '.join(self.step_versions(name))})"
            )
        return versions[version][0]

    def step_plugin(self, cls: type[Step]) -> str:
        return self._steps[cls.name][cls.version][1]

    # -- pipelines -----------------------------------------------------------
    @functools.cached_property
    def _pipelines(self) -> dict[str, dict[str, PipelineFile]]:
        from .pipeline_file import read_header

        pipelines: dict[str, dict[str, PipelineFile]] = {}
        for plugin_name, path in self._collect(self._pm.hook.calpipe_pipelines):
            header = read_header(Path(path))
            name, version = header["name"], header["version"]
            versions = pipelines.setdefault(name, {})
            if version in versions and versions[version].path != Path(path):
                raise RegistryError(
                    f"pipeline '{name}' version {version} is shipped twice: {versions[version].path} "
                    f"by {self._describe_plugin(versions[version].plugin)} and {path} by "
                    f"{self._describe_plugin(plugin_name)}"
                )
            versions[version] = PipelineFile(name, version, Path(path), plugin_name,
                                             header.get("instrument"), header.get("description", ""))
        return pipelines

    def pipeline_names(self) -> list[str]:
        return sorted(self._pipelines)

    def pipeline_versions(self, name: str) -> list[str]:
        return sorted(self._pipelines.get(name, {}), key=parse_version)

    def pipeline_file(self, name: str, version: str | None = None) -> PipelineFile:
        """The YAML file of a registered pipeline release; the newest unless pinned."""
        versions = self._pipelines.get(name)
        if not versions:
            hint = did_you_mean(name, self._pipelines) or "see `calpipe list`, or give a YAML path"
            raise UsageError(f"unknown pipeline '{name}' ({hint})")
        version = version or self.pipeline_versions(name)[-1]
        if version not in versions:
            raise UsageError(
                f"pipeline '{name}' has no release {version} "
                f"(released: {', '.join(self.pipeline_versions(name))})"
            )
        return versions[version]

    # -- models and instruments ----------------------------------------------
    @functools.cached_property
    def models(self) -> dict[str, type]:
        """Model class name (the DATAMODL keyword) -> class."""
        from .models.products import BUILTIN_MODELS

        found: dict[str, type] = {m.__name__: m for m in BUILTIN_MODELS}
        for _, model in self._collect(self._pm.hook.calpipe_models):
            found[model.__name__] = model
        return found

    @functools.cached_property
    def instruments(self) -> dict[str, hookspecs.Instrument]:
        return {i.name: i for _, i in self._collect(self._pm.hook.calpipe_instruments)}

    # -- reference data and commands -----------------------------------------------
    @functools.cached_property
    def reftypes(self) -> dict[tuple[str, str], hookspecs.RefType]:
        """(instrument, reftype) -> its selection keywords."""
        found: dict[tuple[str, str], hookspecs.RefType] = {}
        for plugin_name, rt in self._collect(self._pm.hook.calpipe_reftypes):
            key = (rt.instrument.lower(), rt.reftype)
            if key in found and found[key] != rt:
                raise RegistryError(f"{self._describe_plugin(plugin_name)} redefines reference type "
                                    f"{key[1]} of {key[0]} with other selectors")
            found[key] = rt
        return found

    @functools.cached_property
    def processing(self) -> list[hookspecs.Processing]:
        """Every declared default processing chain, its pipelines checked to be registered."""
        found = []
        for plugin_name, proc in self._collect(self._pm.hook.calpipe_processing):
            for name in proc.chain:
                if name not in self._pipelines:
                    raise RegistryError(f"{self._describe_plugin(plugin_name)} declares processing of "
                                        f"{proc.instrument} by pipeline '{name}', which no plugin ships")
            found.append(proc)
        return found

    def processing_for(self, instrument: str | None, keyword: Any) -> hookspecs.Processing | None:
        """The chain for a raw product of ``instrument``; ``keyword(KEY)`` reads its header.

        The declaration matching the most keywords wins; two equally specific ones are a conflict.
        """
        if not instrument:
            return None
        fits = [p for p in self.processing if p.instrument.lower() == instrument.lower()
                and all(_same_value(keyword(k), v) for k, v in p.match)]
        if not fits:
            return None
        fits.sort(key=lambda p: -len(p.match))
        if len(fits) > 1 and len(fits[0].match) == len(fits[1].match):
            raise RegistryError(f"two plugins declare processing for the same {instrument} products: "
                                f"{fits[0].chain} and {fits[1].chain}; uninstall one")
        return fits[0]

    @functools.cached_property
    def calibrations(self) -> list[hookspecs.Calibration]:
        """Every declared calibration pipeline, its pipeline checked to be registered."""
        found = []
        for plugin_name, cal in self._collect(self._pm.hook.calpipe_calibrations):
            if cal.pipeline not in self._pipelines:
                raise RegistryError(f"{self._describe_plugin(plugin_name)} declares calibration pipeline "
                                    f"'{cal.pipeline}' for {cal.instrument} {cal.reftype}, "
                                    "which no plugin ships")
            found.append(cal)
        return found

    def calibrations_for(self, instrument: str | None, keyword: Any) -> list[hookspecs.Calibration]:
        """The calibrations a raw product of ``instrument`` is an exposure for (``keyword(KEY)`` reads
        its header): one exposure may feed several reference types (a dark and a hot-pixel mask)."""
        if not instrument:
            return []
        return [c for c in self.calibrations if c.instrument.lower() == instrument.lower()
                and all(_same_value(keyword(k), v) for k, v in c.match)]

    def refsets(self) -> list[hookspecs.RefSet]:
        return sorted((rs for _, rs in self._collect(self._pm.hook.calpipe_refsets)),
                      key=lambda rs: (rs.context, rs.name))

    def ref_resolver(self, pipeline: Any, context: int | None, store: Path | None,
                     overrides: dict[str, Path]) -> Any:
        """The installed reference-data system's resolver, or None if there is none."""
        return self._pm.hook.calpipe_ref_resolver(pipeline=pipeline, context=context, store=store,
                                                  overrides=overrides, registry=self)

    def add_commands(self, subparsers: Any) -> None:
        self._pm.hook.calpipe_add_commands(subparsers=subparsers)
        sim = subparsers.add_parser("sim", help="simulate raw data (with its truth) for an instrument")
        self._pm.hook.calpipe_add_sim_commands(
            subparsers=sim.add_subparsers(dest="instrument", required=True, metavar="INSTRUMENT"))


def _same_value(a: Any, b: Any) -> bool:
    """Header values compare as text when their types differ (MIPSBAND 24 vs '24')."""
    return a == b or (a is not None and str(a).strip().lower() == str(b).strip().lower())


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry of installed plugins."""
    return Registry.load()
