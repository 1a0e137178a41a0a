"""Hash-checking the NIR full-frame references: re-reading every byte against the verified-hash record.

Builds the built-in NIR context (2) in a temporary store, waits out the racy window (files
changed less than ``RACY_S`` before hashing are never recorded), then times, interleaved:

- the reference: ``sha256_file`` on each NIR reference file (what every run did before);
- the record: a new ``ContextResolver`` (as a new process makes) answering ``sha256_of`` for
  the same files, which stats each file and reads ``verified.json`` once; the first round
  hashes and records the files, the rest find them unchanged.

Prints the bytes checked, both medians, their ratio, and each one's tracemalloc peak. Then it
times opening the same files for a 256x256 subarray, interleaved: read whole (``open_product``,
as before) against memory-mapped (``memmap=True``, as the runner opens store files now), each
followed by summing the subarray's section of every plane (what the steps' ``cutout`` uses);
medians, ratio, and each one's tracemalloc peak (numpy's allocations; a mapping allocates
none). Last, it flips one byte of one file and prints whether the record still reports the
change. Asserts nothing.

    python benchmarks/ref_hashing.py [--reps N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CALPIPE_REFDATA"] = tmp
        from calpipe.core.provenance import sha256_file
        from calpipe.core.registry import get_registry
        from calpipe.refdata import verified
        from calpipe.refdata.builtin import init
        from calpipe.refdata.resolver import ContextResolver
        from calpipe.refdata.store import Store

        store, registry = Store(Path(tmp)), get_registry()
        init(store, registry, upto=2)
        paths = [store.file_path(sha) for sha, rule in store.load(2).files().items()
                 if rule.name.startswith("nir_")]
        size = sum(p.stat().st_size for p in paths) / 2**20
        time.sleep(verified.RACY_S + 0.1)

        def rehash() -> None:
            for p in paths:
                sha256_file(p)

        def record() -> None:
            resolver = ContextResolver(store, 2, {}, registry)
            for p in paths:
                resolver.sha256_of(p)

        ops = {"sha256 of every byte": rehash, "verified-hash record": record}
        times: dict[str, list[float]] = {name: [] for name in ops}
        peaks: dict[str, float] = {}
        for rep in range(args.reps):
            for name in (list(ops) if rep % 2 else list(ops)[::-1]):
                tracemalloc.start()
                start = time.perf_counter()
                ops[name]()
                times[name].append(time.perf_counter() - start)
                peaks[name] = max(peaks.get(name, 0.0), tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
        med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
        print(f"{len(paths)} NIR reference files, {size:.0f} MB; median of {args.reps} interleaved runs")
        for name in ops:
            print(f"  {name:22s} {med[name]:9.2f} ms   tracemalloc peak {peaks[name]:.2f} MB")
        print(f"  ratio record/re-hash {med['verified-hash record'] / med['sha256 of every byte']:.4f}")

        import numpy as np

        from calpipe.core.io import open_product

        def section_sum(memmap: bool) -> float:
            total = 0.0
            for p in paths:
                model = open_product(p, registry.models, memmap=memmap)
                for plane in ("data", "err", "dq"):
                    array = getattr(model, plane) if model.hasattr(plane) else None
                    if array is not None and array.ndim >= 2:
                        total += float(np.asarray(array[..., 896:1152, 896:1152], np.float64).sum())
            return total

        opens = {"mapped + section": lambda: section_sum(True),
                 "read whole + section": lambda: section_sum(False)}
        held: dict[str, float] = {}
        for name, fn in opens.items():  # numpy's allocations; a mapping allocates none
            tracemalloc.start()
            fn()
            held[name] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        times = {name: [] for name in opens}
        sums = set()
        for rep in range(args.reps):
            for name in (list(opens) if rep % 2 else list(opens)[::-1]):
                start = time.perf_counter()
                sums.add(opens[name]())
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
        print(f"opening them for a 256x256 subarray (same section sums: {len(sums) == 1})")
        for name in opens:
            print(f"  {name:22s} {med[name]:9.2f} ms   tracemalloc peak {held[name]:.0f} MB")
        print(f"  ratio mapped/read whole {med['mapped + section'] / med['read whole + section']:.2f}")

        victim = paths[0]
        os.chmod(victim, 0o644)
        with open(victim, "r+b") as f:
            f.seek(-100, os.SEEK_END)
            byte = f.read(1)
            f.seek(-100, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0xFF]))
        seen = ContextResolver(store, 2, {}, registry).sha256_of(victim)
        print(f"  one byte flipped in {victim.name[:16]}…: record reports "
              f"{'the change' if seen != victim.stem else 'NO CHANGE (bug)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
