"""What the issue-13 checks cost: reference content, and output names planned before a run.

Prints, as medians of interleaved repetitions: opening the nine built-in nir reference files
(2048 x 2048, NRCA1) and checking their content against their reftype (once per process: the
runner caches opened references); and reading an input's planned output stem from its ASDF
tree (once per input before a batch starts), beside opening the same input as a product.
It asserts nothing.

    python benchmarks/input_checks.py [--reps N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from calpipe.core.io import open_product, write_atomic
from calpipe.core.refcheck import check_reference
from calpipe.core.registry import get_registry
from calpipe.core.runner import _made_with_suffix_of_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    from calpipe.instruments.demo.simulate import make_demo_data
    from calpipe.instruments.nir.refs import build

    registry = get_registry()
    with tempfile.TemporaryDirectory() as tmp:
        refs = [(ref.meta.reftype, write_atomic(ref, Path(tmp) / name)) for name, ref in build()]
        product = make_demo_data(Path(tmp) / "demo").image
        times: dict[str, list[float]] = {"open 9 nir refs": [], "check 9 nir refs": [],
                                         "open one 128x128 product": [], "plan its output name": []}
        for _ in range(args.reps):  # interleaved, so drifts of the machine hit every figure alike
            start = time.perf_counter()
            models = [(t, p, open_product(p)) for t, p in refs]
            times["open 9 nir refs"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for reftype, path, model in models:
                check_reference(path, model, reftype, registry.reftypes, registry.instruments)
            times["check 9 nir refs"].append(time.perf_counter() - start)
            start = time.perf_counter()
            open_product(product)
            times["open one 128x128 product"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _made_with_suffix_of_file(product)
            times["plan its output name"].append(time.perf_counter() - start)
    for what, values in times.items():
        print(f"{what:<26} median {statistics.median(values) * 1e3:8.1f} ms  (min {min(values) * 1e3:.1f}, "
              f"max {max(values) * 1e3:.1f}, {len(values)} runs)")


if __name__ == "__main__":
    main()
