"""Framework overhead per step: 200 no-op steps on a small in-memory product.

Prints a table of figures (median per-step overhead of ``Runner.run_product``,
the one-off costs of ``Runner.finish`` and of resolving the pipeline, and the
tracemalloc peak of one run). It asserts nothing.

    python benchmarks/step_overhead.py [--steps N] [--reps N]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field

from calpipe.core import provenance
from calpipe.core.hookspecs import hookimpl
from calpipe.core.params import Params
from calpipe.core.pipeline import resolve
from calpipe.core.registry import Registry
from calpipe.core.runner import Runner
from calpipe.core.step import Step

TARGET_PER_STEP_MS = 0.3


class NoopParams(Params):
    factor: float = Field(1.0, description="unused; one field so params are validated and dumped")


class NoopStep(Step):
    """Returns the product unchanged (framework benchmark)."""

    name = "noop"
    version = "1.0.0"
    Params = NoopParams

    def process(self, product: Any, refs: Any, params: Params) -> Any:
        return product


class BenchPlugin:
    """An in-script plugin object, registered like a third-party plugin module."""

    @staticmethod
    @hookimpl
    def calpipe_steps():
        return [NoopStep]


def write_pipeline(path: Path, n_steps: int) -> Path:
    lines = ["name: bench_noop", "version: 1.0.0", "description: framework overhead benchmark",
             "input: 2", "output: 2", "steps:"]
    for i in range(n_steps):
        lines += [f"  - id: s{i:03d}", "    step: noop", "    params:", "      factor: 1.0"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_product():
    import numpy as np

    from calpipe.core.models.products import ImageModel

    model = ImageModel(data=np.zeros((64, 64), np.float32))
    model.meta.instrument.name = "DEMO"
    return model


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("calpipe").setLevel(logging.WARNING)

    registry = Registry.load(extra_plugins=(BenchPlugin,), entry_points=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_pipeline(Path(tmp) / "bench_noop.yaml", args.steps)
        resolve(str(path), registry)  # warm-up: step table, pydantic schemas, YAML loader
        resolve_times = timed(lambda: resolve(str(path), registry), 5)
        pipeline = resolve(str(path), registry)

    runner = Runner(pipeline, models={}, plugins={})
    product = make_product()
    for _ in range(3):  # warm-up
        runner.run_product(product, "bench")
    run_times = timed(lambda: runner.run_product(product, "bench"), args.reps)

    # Provenance stamping: a fresh product each time, since finish() appends HISTORY. The
    # first call in the process is reported apart (it includes one-off imports and caches).
    finish_times = []
    for _ in range(6):
        result = runner.run_product(make_product(), "bench")
        start = time.perf_counter()
        runner.finish(result, inputs=[])
        finish_times.append(time.perf_counter() - start)
    first_finish, finish_times = finish_times[0], finish_times[1:]
    # Its two halves, called as finish() calls them, to tell a regression's side at a glance.
    build_times, apply_times = [], []
    for _ in range(5):
        result = runner.run_product(make_product(), "bench")
        start = time.perf_counter()
        record = provenance.build_record(run_id=uuid.uuid4().hex, pipeline=pipeline, steps=result.steps,
                                         context=None, inputs=[], plugins={})
        mid = time.perf_counter()
        provenance.apply(result.product, record, pipeline.output_level)
        build_times.append(mid - start)
        apply_times.append(time.perf_counter() - mid)

    tracemalloc.start()
    runner.run_product(product, "bench")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n = args.steps
    per_step_ms = [t / n * 1e3 for t in run_times]
    med = statistics.median(per_step_ms)
    rows = [
        ("per-step overhead (median)", f"{med:.4f} ms", f"<= {TARGET_PER_STEP_MS} ms",
         "ok" if med <= TARGET_PER_STEP_MS else "MISS"),
        ("per-step overhead (min/max)", f"{min(per_step_ms):.4f} / {max(per_step_ms):.4f} ms", "", ""),
        (f"run_product, {n} steps (median)", f"{statistics.median(run_times) * 1e3:.2f} ms", "", ""),
        ("finish() provenance (median)", f"{statistics.median(finish_times) * 1e3:.2f} ms", "", ""),
        ("  of which build_record", f"{statistics.median(build_times) * 1e3:.2f} ms", "", ""),
        ("  of which provenance.apply", f"{statistics.median(apply_times) * 1e3:.2f} ms", "", ""),
        ("finish() first call in process", f"{first_finish * 1e3:.2f} ms", "", ""),
        (f"resolve {n}-step pipeline (median)", f"{statistics.median(resolve_times) * 1e3:.1f} ms", "", ""),
        ("tracemalloc peak, one run", f"{peak / 1024:.1f} KiB", "", ""),
    ]
    print(f"step_overhead: {n} no-op steps, 64x64 float32 ImageModel, {args.reps} repetitions "
          f"(Python {sys.version.split()[0]})")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>22}  {'target':>10}")
    for label, value, target, verdict in rows:
        print(f"{label:<{width}}  {value:>22}  {target:>10}  {verdict}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
