"""The public way to run a pipeline: strun, `calpipe demo`, the archive and tests all come here.

    from calpipe.core.api import run
    report = run("nir_detector1", ["x_uncal.fits"], "out")
    report.outputs        # the files written, in input order

Everything is checked before any data is touched (pipeline, parameters,
``refs``, the output directory, input names); then each input (or association)
runs. The registry is passed explicitly below this edge: give ``registry`` to
run with other plugins than the installed ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .association import Group
from .errors import RefDataError, UsageError
from .params import did_you_mean

if TYPE_CHECKING:
    from .pipeline import Overrides, ResolvedPipeline
    from .refs import RefResolver
    from .registry import Registry
    from .runner import Outcome, Runner


@dataclass(frozen=True)
class RunReport:
    """What a run did: one outcome per input (or association), in input order."""

    pipeline: ResolvedPipeline
    outcomes: list[Outcome]

    @property
    def outputs(self) -> list[Path]:
        return [path for o in self.outcomes for path in o.outputs]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def exit_code(self) -> int:
        """0 if every input was calibrated, else the exit code of the first failure."""
        return self.failed[0].exit_code if self.failed else 0


@dataclass(frozen=True)
class Prepared:
    """A checked run, ready to start: its runner, groups and the settings workers must share."""

    runner: Runner
    groups: list[Group]
    refs: dict[str, Path]
    context: int | None
    refdata: Path | None


def load(pipeline: str | Path | ResolvedPipeline, registry: Registry | None = None,
         overrides: Overrides | None = None) -> ResolvedPipeline:
    """A pipeline by YAML path or NAME[@VERSION], resolved (already resolved ones pass through)."""
    from .pipeline import ResolvedPipeline, resolve

    if isinstance(pipeline, ResolvedPipeline):
        return pipeline
    return resolve(str(pipeline), registry or _installed(), overrides)


def prepare(pipeline: str | Path | ResolvedPipeline, inputs: Sequence[Path | str | Group], *,
            context: int | None = None, refs: dict[str, Path | str] | None = None,
            refdata: Path | None = None, overrides: Overrides | None = None,
            output_dir: Path | None = None, save_intermediates: bool = False,
            registry: Registry | None = None) -> Prepared:
    """Resolve the pipeline, check the options and group the inputs; nothing is written."""
    registry = registry or _installed()
    resolved = load(pipeline, registry, overrides)
    refs = check_refs(resolved, refs or {})
    if output_dir is not None:
        check_output_dir(Path(output_dir))
    paths = [i for i in inputs if not isinstance(i, Group)]
    groups = [i for i in inputs if isinstance(i, Group)] + (
        input_groups(resolved, [Path(p) for p in paths], output_dir, save_intermediates) if paths else [])
    resolver = make_resolver(registry, resolved, context, refdata, refs)
    from .runner import Runner

    return Prepared(Runner(resolved, resolver, registry=registry), groups, refs, context, refdata)


def run(pipeline: str | Path | ResolvedPipeline, inputs: Sequence[Path | str | Group],
        output_dir: Path | str, *, context: int | None = None, refs: dict[str, Path | str] | None = None,
        refdata: Path | None = None, overrides: Overrides | None = None, jobs: int = 1,
        save_intermediates: bool = False, registry: Registry | None = None,
        progress: Callable[[Outcome], None] | None = None,
        on_error: Literal["collect", "raise"] = "collect") -> RunReport:
    """Run ``pipeline`` on every input into ``output_dir``; returns what was written.

    ``inputs`` are product files, association files (.yaml/.json) or Groups.
    ``context`` pins a reference context (default: the pipeline's own), ``refs``
    maps reference types to files used instead (recorded as overrides) and
    ``refdata`` names the reference store. Failures of single inputs are
    collected in the report; with ``on_error="raise"`` the first one is raised
    instead (and the inputs after it are not run; needs ``jobs=1``).
    """
    from .models.asdf_plugins import load_only_calpipe_plugins
    from .runner import Outcome, run_many

    if jobs < 1:
        raise UsageError(f"-j must be at least 1, got {jobs}")
    if on_error == "raise" and jobs > 1:
        raise UsageError("on_error='raise' runs the inputs one by one; use jobs=1")
    load_only_calpipe_plugins()  # this process handles calpipe products only
    output_dir = Path(output_dir)
    prep = prepare(pipeline, inputs, context=context, refs=refs, refdata=refdata, overrides=overrides,
                   output_dir=output_dir, save_intermediates=save_intermediates, registry=registry)
    runner, groups = prep.runner, prep.groups
    if on_error == "raise":
        outcomes = []
        for group in groups:
            outcomes.append(Outcome(group.source, runner.run_group(group, output_dir, save_intermediates)))
            if progress:
                progress(outcomes[-1])
        return RunReport(runner.pipeline, outcomes)
    context = prep.context
    from_store = set(runner.pipeline.reftypes()) - set(prep.refs)
    if jobs > 1 and len(groups) > 1 and from_store and hasattr(runner.resolver, "pin"):
        context = runner.resolver.pin()  # settle (and install) the context once, before the workers start
    make_runner = functools.partial(build_runner, runner.pipeline.definition(), context, prep.refdata,
                                    prep.refs)
    outcomes = run_many(runner, groups, output_dir, jobs, save_intermediates, progress=progress,
                        make_runner=make_runner)
    return RunReport(runner.pipeline, outcomes)


def check_refs(pipeline: ResolvedPipeline, refs: dict[str, Path | str]) -> dict[str, Path]:
    """Reference overrides: each type one the pipeline uses, each file present."""
    checked = {t: Path(p) for t, p in refs.items()}
    for reftype, path in checked.items():
        if reftype not in pipeline.reftypes():
            hint = did_you_mean(reftype, pipeline.reftypes()) or f"it uses: {', '.join(pipeline.reftypes())}"
            raise UsageError(f"--ref {reftype}=...: {pipeline.name} uses no '{reftype}' reference ({hint})")
        if not path.is_file():
            raise RefDataError(f"--ref {reftype}={path}: file not found (check the path)")
    return checked


def check_output_dir(path: Path, option: str = "-o") -> None:
    """Refuse an output directory that is a file, or lies under one, before any work."""
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "exists and is not a directory" if parent == path else f"{parent} is a file"
                raise UsageError(f"{option} {path}: {what} (choose a directory)")
            return


def input_groups(pipeline, inputs: list[Path], output_dir: Path | None = None,
                 save_intermediates: bool = False) -> list:
    """What each run takes: association files (.yaml/.yml/.json) and product files.

    A pipeline that combines takes each association as one run and all loose
    product files together as another; any other pipeline runs every member
    and every file on its own. With ``output_dir``, runs whose outputs collide
    (or overwrite another run's input) are refused before anything runs.
    """
    from .association import ASSOCIATION_SUFFIXES, Group, group_name, load_association
    from .errors import UsageError

    associations = [load_association(p) for p in inputs if p.suffix.lower() in ASSOCIATION_SUFFIXES]
    files = [p for p in inputs if p.suffix.lower() not in ASSOCIATION_SUFFIXES]
    if pipeline.combines:
        paths = [p.resolve() for p in files]
        twice = sorted({str(p) for p in files if paths.count(p.resolve()) > 1})
        if twice:
            raise UsageError(f"{', '.join(twice)} given more than once: each member counts once in a "
                             "combined product")
        groups = associations + ([Group(group_name(files, pipeline.name), tuple(files), files[0])]
                                 if files else [])
        names = [g.name for g in groups]
    else:
        groups = [Group.of(p) for a in associations for p in a.members] + [Group.of(p) for p in files]
        names = [g.source.name for g in groups]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UsageError(f"inputs {', '.join(clash)} appear more than once by name; their outputs would "
                         "overwrite each other (run them into different -o directories)")
    if output_dir is not None:
        from .runner import refuse_collisions

        refuse_collisions(pipeline, groups, output_dir, save_intermediates)
    return groups


def make_resolver(registry, pipeline, context, store, refs) -> RefResolver:
    """The installed reference-data system's resolver, or --ref overrides alone without one."""
    from .refs import OverrideResolver

    resolver = registry.ref_resolver(pipeline, context, store, refs)
    if resolver is None:
        if context is not None:
            from .errors import UsageError

            raise UsageError("--context needs a reference-data plugin, and none is installed")
        resolver = OverrideResolver(refs)
    return resolver


def build_runner(definition: dict, context: int | None, store: Path | None, refs: dict[str, Path]):
    """A worker's runner, rebuilt from the frozen definition and the context the parent settled."""
    from .models.asdf_plugins import load_only_calpipe_plugins
    from .pipeline import ResolvedPipeline
    from .registry import get_registry
    from .runner import Runner

    load_only_calpipe_plugins()
    registry = get_registry()  # a spawned worker's own edge: the installed plugins, as in the parent
    pipeline = ResolvedPipeline.from_definition(definition, registry, "strun worker")
    return Runner(pipeline, make_resolver(registry, pipeline, context, store, refs), registry=registry)


def _installed() -> Registry:
    from .registry import get_registry

    return get_registry()
