"""Run a resolved pipeline on products.

The runner, not the steps, owns everything around the science: opening inputs,
resolving and hashing reference files before the first step, skipping,
timing, recording status, writing provenance and writing outputs atomically.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .association import Group, ProductSet, refuse_same_data
from .errors import CalpipeError, InputDataError, RefDataError, StepFailedError, UsageError
from .logs import forwarded, running, step_warnings, worker_logging
from .logs import levels as log_levels
from .pipeline import ResolvedPipeline
from .provenance import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_SKIPPED,
    RefUse,
    StepRecord,
    build_record,
    input_summary,
    sha256_file,
    utc_now,
)
from .provenance import apply as apply_provenance
from .refcheck import check_reference
from .refs import OverrideResolver, RefResolver

if TYPE_CHECKING:
    from .registry import Registry

log = logging.getLogger("calpipe")


@dataclass
class LoadedRef:
    use: RefUse
    model: Any


@dataclass
class RunResult:
    product: Any
    steps: list[StepRecord]
    refs: dict[str, LoadedRef] = field(default_factory=dict)


class Runner:
    """Runs one resolved pipeline; reusable across many inputs in one process."""

    def __init__(self, pipeline: ResolvedPipeline, resolver: RefResolver | None = None,
                 models: dict[str, type] | None = None, plugins: dict[str, str] | None = None, *,
                 registry: Registry | None = None):
        """``registry`` supplies the model classes and plugin versions not given as ``models``/``plugins``."""
        if registry is None and (models is None or plugins is None):
            raise TypeError("Runner needs the registry the pipeline was resolved with (registry=...), "
                            "or both models= and plugins=")
        self.pipeline = pipeline
        self.resolver = resolver or OverrideResolver()
        self.models: dict[str, type] = models if models is not None else registry.models
        self.plugins: dict[str, str] = plugins if plugins is not None else registry.plugin_versions()
        self._instances = {s.id: s.step() for s in pipeline.steps}
        self._ref_cache: dict[tuple[Path, str], LoadedRef] = {}

    # -- inputs and references -------------------------------------------------------
    def check_input(self, model: Any, name: str) -> None:
        """Refuse products the pipeline was not made for, naming the keyword at fault."""
        p = self.pipeline
        if getattr(model.meta, "reftype", None) is not None or model.data_level is None:
            raise InputDataError(f"{name}: a {type(model).__name__} (REFTYPE {model.meta.reftype}) is a "
                                 "reference file, not a product to calibrate")
        if model.data is None:
            raise InputDataError(f"{name}: no SCI array (the file is incomplete; regenerate it)")
        _check_planes(model, name)
        level = model.meta.data_level
        made_as = type(model).data_level
        if made_as is not None and level is not None and made_as != level:
            raise InputDataError(f"{name}: DATAMODL = '{type(model).__name__}' is a level {made_as} product "
                                 f"type, but DATALVL = {level} (the keywords contradict each other; "
                                 "regenerate the file)")
        self._check_frame(model, name)
        if level is None or level != p.input_level:
            raise InputDataError(f"{name}: DATALVL = {level}, but pipeline {p.name} takes level "
                                 f"{p.input_level} products (choose the pipeline for this level)")
        if p.instrument:
            instrument = model.meta.instrument.name
            if instrument is None:
                raise InputDataError(f"{name}: missing keyword INSTRUME; pipeline {p.name} needs "
                                     f"'{p.instrument}' data (set INSTRUME in the primary header)")
            if instrument.lower() != p.instrument.lower():
                raise InputDataError(f"{name}: INSTRUME = '{instrument}', but pipeline {p.name} is for "
                                     f"'{p.instrument}' (use a {instrument.lower()} pipeline)")
        first = next((rs for rs in p.steps if not rs.skip), None)
        if first is not None:
            first.step.check_input(model)  # e.g. the right detector, before references are chosen

    def _check_frame(self, model: Any, name: str) -> None:
        """SCI has pixels, as many as SUBSIZE1/2 say, in the frame of the instrument's detector."""
        shape = tuple(model.data.shape)
        if 0 in shape:
            raise InputDataError(f"{name}: SCI has shape {shape}, no pixels to calibrate (the file is "
                                 "incomplete; regenerate it)")
        if type(model).data_level not in (1, 2) or len(shape) < 2:
            return  # mosaics and tables have shapes of their own
        ny, nx = shape[-2:]
        sub = model.meta.subarray
        for key, size, declared in (("SUBSIZE1", nx, sub.xsize), ("SUBSIZE2", ny, sub.ysize)):
            if declared is not None and declared != size:
                raise InputDataError(f"{name}: SCI is {ny}x{nx} pixels, but {key} = {declared} (the array "
                                     "was cut or the header edited; regenerate the file)")
        instrument = self.instruments.get(str(model.meta.instrument.name or "").lower())
        detector = model.meta.instrument.detector
        frame = instrument.frame(detector) if instrument else None
        if frame is None:
            return
        fits = ny <= frame[0] and nx <= frame[1] if instrument.subarrays else (ny, nx) == frame
        if not fits:
            what = "at most" if instrument.subarrays else "exactly"
            raise InputDataError(f"{name}: SCI frame is {ny}x{nx} pixels, but {instrument.name} DETECTOR = "
                                 f"'{detector}' reads {what} {frame[0]}x{frame[1]} (a cut array, or data of "
                                 "another detector; regenerate the file)")

    @property
    def instruments(self) -> dict[str, Any]:
        from .registry import get_registry

        return get_registry().instruments

    @property
    def reftypes(self) -> dict[tuple[str, str], Any]:
        from .registry import get_registry

        return get_registry().reftypes

    def load_refs(self, product: Any) -> dict[str, LoadedRef]:
        """Resolve, hash-check and open every reference file before any step runs.

        The references of a multi-input run are chosen by its first member.
        """
        from .io import open_product

        if isinstance(product, ProductSet):
            product = product.first()
        refs = {}
        for reftype in self.pipeline.reftypes():
            ref = self.resolver.resolve(reftype, product)
            named = f"{ref.name} ({ref.path})" if ref.name and ref.name != ref.path.name else str(ref.path)
            if not ref.path.is_file():
                raise RefDataError(f"{named}: reference file for '{reftype}' not found "
                                   f"(check --ref {reftype}=PATH or the reference store)")
            digest = sha256_file(ref.path)
            if ref.sha256 is not None and digest != ref.sha256:
                raise RefDataError(f"{ref.path}: reference file {ref.name or ref.path.name} was modified "
                                   f"(sha256 {digest[:16]}… instead of {ref.sha256[:16]}…); restore it "
                                   "or publish a new context")
            key = (ref.path.resolve(), digest)
            if key not in self._ref_cache:
                try:
                    model = open_product(ref.path, self.models, error=RefDataError)
                except RefDataError as exc:  # name the file by its own name, not only its hash
                    raise RefDataError(f"reference file {named}: {exc}" if ref.name else str(exc)) from None
                declared = getattr(model.meta, "reftype", None)
                if declared != reftype:
                    what = (f"REFTYPE = '{declared}'" if declared
                            else f"a {type(model).__name__}, not a reference file")
                    raise RefDataError(f"{named}: {what}, but it was given as '{reftype}' "
                                       f"(pass a {reftype} reference file)")
                check_reference(ref.path, model, reftype, self.reftypes, self.instruments, ref.name, digest)
                use = RefUse(reftype, ref.name or ref.path.name, digest, ref.overridden)
                self._ref_cache[key] = LoadedRef(use, model)
            refs[reftype] = self._ref_cache[key]
        return refs

    # -- the step loop ---------------------------------------------------------------
    def run_product(self, product: Any, name: str,
                    save: Callable[[RunResult, str], None] | None = None, save_all: bool = False
                    ) -> RunResult:
        """Run every step on an in-memory product; raises StepFailedError on the first failure.

        ``save(partial_result, step_id)`` is called after steps marked ``save`` (all with ``save_all``).
        """
        refs = self.load_refs(product)
        records: list[StepRecord] = []
        # after the last step that runs, the product is the output itself: save_all skips it
        last = next((rs.id for rs in reversed(self.pipeline.steps) if not rs.skip), None)
        for rs in self.pipeline.steps:
            used = [refs[t].use for t in rs.step.reftypes if t in refs]
            record = StepRecord(rs.id, rs.step.name, rs.step.version, STATUS_SKIPPED,
                                rs.params.model_dump(mode="json"), used)
            records.append(record)
            if rs.skip:
                log.info("%-16s %s %s skipped", rs.id, rs.step.name, rs.step.version)
                continue
            record.started = utc_now()
            start = time.perf_counter()
            try:
                product = self._process(rs.id, rs.step.combines, product,
                                        {t: refs[t].model for t in rs.step.reftypes}, rs.params)
            except Exception as exc:
                record.status = STATUS_FAILED
                record.error = f"{type(exc).__name__}: {exc}"
                raise StepFailedError(rs.id, name, _named(exc, refs)) from exc
            finally:
                record.duration_s = round(time.perf_counter() - start, 6)
            record.status = STATUS_COMPLETE
            log.info("%-16s %s %s done in %.3f s", rs.id, rs.step.name, rs.step.version, record.duration_s)
            if save is not None and (rs.save or (save_all and rs.id != last)):
                save(RunResult(product, list(records), refs), rs.id)
        return RunResult(product, records, refs)

    def _process(self, step_id: str, combines: bool, product: Any, refs: dict[str, Any], params: Any) -> Any:
        step = self._instances[step_id]
        if combines:
            members = product if isinstance(product, ProductSet) else ProductSet([("", product)])
            with step_warnings(step_id):
                return step.process(members, refs, params)
        if isinstance(product, ProductSet):
            done = []
            for label, p in product:
                with step_warnings(step_id, label):
                    done.append((label, step.process(p, refs, params)))
            return ProductSet(done, product.made_from)
        with step_warnings(step_id):
            return step.process(product, refs, params)

    def finish(self, result: RunResult, inputs: list[dict[str, Any]]) -> Any:
        """Stamp provenance into the product (every member of a set); returns it."""
        run_id = uuid.uuid4().hex
        items = result.product.items if isinstance(result.product, ProductSet) else [("", result.product)]
        made_from = result.product.made_from if isinstance(result.product, ProductSet) else {}
        for label, product in items:
            used = inputs
            if label in made_from:
                used = [i for i in inputs if Path(i["name"]).stem in made_from[label]]
            record = build_record(run_id=run_id, pipeline=self.pipeline, steps=result.steps,
                                  context=self.resolver.context, inputs=used, plugins=self.plugins)
            apply_provenance(product, record, self.pipeline.output_level)
            self._fill_telescope(product)
        return result.product

    def _fill_telescope(self, product: Any) -> None:
        """TELESCOP, if the input lacked it, from the instrument plugin (its Instrument.telescope)."""
        from .registry import get_registry

        meta = product.meta
        if getattr(meta, "telescope", None) or not meta.instrument.name:
            return
        instrument = get_registry().instruments.get(meta.instrument.name.lower())
        if instrument is not None:
            meta.telescope = instrument.telescope

    # -- files -------------------------------------------------------------------------
    def run_file(self, path: Path, output_dir: Path, save_intermediates: bool = False) -> Path:
        """Calibrate one input file; returns the output path. Writes nothing on failure."""
        return self.run_group(Group.of(path), output_dir, save_intermediates)[0]

    def run_group(self, group: Group, output_dir: Path, save_intermediates: bool = False) -> list[Path]:
        """Run on one input, or on every member of an association if the pipeline combines them.

        Returns the output paths (one per product of a set). If a step fails the output is
        not written; products saved after earlier steps (``save``) stay.
        """
        with running(group.name if self.pipeline.combines else group.source.name):
            return self._run_group(group, output_dir, save_intermediates)

    def _run_group(self, group: Group, output_dir: Path, save_intermediates: bool) -> list[Path]:
        from .io import open_product

        members, inputs = [], []
        for path in group.members:
            product = open_product(path, self.models)
            self.check_input(product, path.name)
            inputs.append(input_summary(path.name, sha256_file(path), product))
            members.append((path.stem, product))
        if self.pipeline.combines:
            refuse_same_data(group.source, [i["name"] for i in inputs], [i["sha256"] for i in inputs])
            product, stem, name = ProductSet(members), group.name, str(group.source)
        elif len(members) == 1:
            product = members[0][1]
            stem, name = output_stem(group.members[0], _made_with_suffix(product)), group.members[0].name
        else:
            raise UsageError(f"{group.source}: pipeline {self.pipeline.name} takes one product per run, and "
                             "has no step that combines several (run the members one by one)")

        _refuse_overwrite([Path(output_dir) / f"{stem}_{self.pipeline.suffix}.fits"], group)

        def write(partial: RunResult, suffix: str) -> list[Path]:
            return self._write(self.finish(partial, inputs), Path(output_dir), f"{stem}_{suffix}", group)

        def save(partial: RunResult, step_id: str) -> None:
            partial.product = _copy(partial.product)
            write(partial, step_id)

        result = self.run_product(product, name, save, save_intermediates)
        return write(result, self.pipeline.suffix)

    @staticmethod
    def _write(product: Any, output_dir: Path, base: str, group: Group) -> list[Path]:
        """``base``.fits, or ``base``_<label>.fits per member of a set; never over an input."""
        from .io import clean_stale_parts, write_atomic

        items = product.items if isinstance(product, ProductSet) else [("", product)]
        paths = [output_dir / (f"{base}_{label}.fits" if label else f"{base}.fits") for label, _ in items]
        _refuse_overwrite(paths, group)
        for stale in clean_stale_parts(output_dir):  # a run killed here before left them
            log.info("removed %s, left by a run that was killed", stale)
        for path, (_, model) in zip(paths, items, strict=True):
            write_atomic(model, path)
            log.info("wrote %s", path)
        return paths


def _named(exc: Exception, refs: dict[str, LoadedRef]) -> Exception:
    """A step's reference error naming store files (<sha256>.fits) by their own name as well."""
    if not isinstance(exc, RefDataError):
        return exc
    text = str(exc)
    for ref in refs.values():
        stored = f"{ref.use.sha256}.fits"
        if stored in text and ref.use.name != stored:
            text = text.replace(stored, f"{ref.use.name} ({stored})")
    return RefDataError(text) if text != str(exc) else exc


_RAW_SUFFIXES = ("raw", "uncal")
_PLANES = ("err", "dq", "pixeldq", "groupdq", "var_poisson", "var_rnoise", "var_flat")


def _check_planes(model: Any, name: str) -> None:
    """Every image plane must cover the pixels of SCI; the input is at fault if one does not."""
    import numpy as np

    sci = np.shape(model.data)
    if 0 in sci:
        raise InputDataError(f"{name}: SCI has shape {sci}, no pixels (a truncated file; regenerate it)")
    for plane in _PLANES:
        array = getattr(model, plane, None) if plane in model.instance else None
        if array is not None and np.shape(array)[-2:] != sci[-2:]:
            raise InputDataError(f"{name}: {plane.upper()} has shape {np.shape(array)} but SCI has {sci} "
                                 "(an inconsistent file; regenerate it)")


def _refuse_overwrite(outputs: list[Path], group: Group) -> None:
    inputs = {p.resolve() for p in group.members}
    for path in outputs:
        if path.resolve() in inputs:
            raise UsageError(f"{group.source}: the output {path.name} would overwrite an input; "
                             "choose another output directory (-o)")


def _copy(product: Any) -> Any:
    """A copy to stamp and save while the run goes on with the original."""
    if isinstance(product, ProductSet):
        return ProductSet([(label, p.copy()) for label, p in product], product.made_from)
    return product.copy()


def output_stem(path: Path, previous_suffix: str | None = None) -> str:
    """Input name without its product suffix: x_uncal.fits -> x, and x_rate.fits -> x if made as 'rate'."""
    stem = path.stem
    for suffix in (*_RAW_SUFFIXES, *([previous_suffix] if previous_suffix else [])):
        if stem.endswith(f"_{suffix}"):
            return stem[: -len(suffix) - 1]
    return stem


def _made_with_suffix(product: Any) -> str | None:
    """The output suffix of the pipeline that made ``product``, from its provenance."""
    record = getattr(product.meta, "provenance", None)
    return _suffix_of(getattr(record, "instance", record or {}))


def _suffix_of(record: Any) -> str | None:
    import json

    definition = (record or {}).get("pipeline", {}).get("definition") if isinstance(record, dict) else None
    return json.loads(definition).get("suffix") if isinstance(definition, str) else None


def _made_with_suffix_of_file(path: Path) -> str | None:
    """As `_made_with_suffix`, from the file's ASDF tree alone (no arrays read): output names are
    known, and checked for collisions, before any input is opened as a product."""
    import io

    import yaml
    from asdf.util import load_yaml
    from astropy.io import fits

    from . import limits
    from .fitscheck import check_structure

    try:
        check_structure(path)  # astropy trusts a lying header (a negative NAXIS1 loops)
        with fits.open(path, memmap=False) as hdul:
            raw = bytes(hdul["ASDF"].data["ASDF_METADATA"][0]) if "ASDF" in hdul else b""
        limits.check_yaml_size(yaml.compose(raw.split(b"\n...")[0], Loader=yaml.SafeLoader) if raw else None,
                               str(path), ValueError)  # no alias bomb in the tree
        tree = load_yaml(io.BytesIO(raw), tagged=False) if raw else {}
        return _suffix_of(((tree or {}).get("meta") or {}).get("provenance"))
    except Exception:  # unreadable here: the run itself reports it (exit 3), with the reason
        return None


def planned_outputs(pipeline: ResolvedPipeline, group: Group, output_dir: Path,
                    save_intermediates: bool = False) -> list[Path]:
    """The files a run of ``group`` writes: the product and each saved step's (a set's: their base)."""
    if pipeline.combines:
        stem = group.name
    else:
        path = group.members[0]
        stem = output_stem(path, _made_with_suffix_of_file(path))
    running = [s for s in pipeline.steps if not s.skip]
    # save_intermediates skips the last step: its product is the output itself (see run_product)
    saved = [s.id for s in running if s.save or (save_intermediates and s is not running[-1])]
    return [Path(output_dir) / f"{stem}_{suffix}.fits" for suffix in (pipeline.suffix, *saved)]


def refuse_collisions(pipeline: ResolvedPipeline, groups: list[Group], output_dir: Path,
                      save_intermediates: bool = False) -> None:
    """Two runs that would write the same file, or a run that would overwrite another's input:
    refused (exit 2) before anything runs, naming both inputs and the output."""
    writer: dict[Path, Group] = {}
    inputs = {m.resolve(): g for g in groups for m in g.members}
    for group in groups:
        for out in planned_outputs(pipeline, group, output_dir, save_intermediates):
            key = out.resolve()
            other = writer.setdefault(key, group)
            if other is not group:
                raise UsageError(f"inputs {other.source} and {group.source} would both be written as {out}; "
                                 "nothing was run (rename one, or run them into different -o directories)")
            if key in inputs and inputs[key] is not group:
                raise UsageError(f"the output {out} of {group.source} would overwrite the input "
                                 f"{inputs[key].source}; nothing was run (choose another -o directory)")


@dataclass
class Outcome:
    input: Path
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0


def run_one(runner: Runner, group: Group, output_dir: Path, save_intermediates: bool) -> Outcome:
    """One run; every failure becomes an Outcome, so one bad input never stops a batch."""
    try:
        return Outcome(group.source, runner.run_group(group, output_dir, save_intermediates))
    except CalpipeError as exc:
        return Outcome(group.source, error=str(exc), exit_code=exc.exit_code)
    except Exception as exc:
        return Outcome(group.source, error=f"internal error: {type(exc).__name__}: {exc}", exit_code=1)


def _logged_runner(make_runner: Callable[[], Runner], log_queue: Any, levels: tuple[int, int]) -> Runner:
    """In a worker: send its log records to the parent (prefixed by input), then build its runner."""
    worker_logging(log_queue, *levels)
    return make_runner()


def run_many(runner: Runner, inputs: Iterable[Path | Group], output_dir: Path, jobs: int = 1,
             save_intermediates: bool = False, progress: Callable[[Outcome], None] | None = None,
             make_runner: Callable[[], Runner] | None = None) -> list[Outcome]:
    """Run every input (a file, or a group of them), in ``jobs`` processes if more than one.

    Failures are collected, not raised.

    Workers (workers.py) build their runner with ``make_runner``, a picklable
    factory that must pin everything the parent settled (e.g. the reference
    context); a worker that dies costs only the input it was running.
    """
    inputs = [i if isinstance(i, Group) else Group.of(i) for i in inputs]
    outcomes: list[Outcome] = []
    if jobs <= 1 or len(inputs) <= 1 or make_runner is None:
        for group in inputs:
            outcomes.append(run_one(runner, group, output_dir, save_intermediates))
            if progress:
                progress(outcomes[-1])
        return outcomes
    import functools
    import multiprocessing
    import os

    from .workers import run_pool

    # numba would start one thread per core in every worker: share the cores instead
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    previous = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = threads
    log_queue = multiprocessing.get_context("spawn").Queue()
    logged = functools.partial(_logged_runner, make_runner, log_queue, log_levels())
    try:
        with forwarded(log_queue):
            return run_pool(logged, inputs, output_dir, jobs, save_intermediates, progress)
    finally:
        if previous is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = previous
