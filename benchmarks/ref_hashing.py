"""Hash-checking the NIR full-frame references: re-reading every byte against the verified-hash record.

Builds the built-in NIR context (2) in a temporary store, waits out the racy window (files
changed less than ``RACY_S`` before hashing are never recorded), then times, interleaved:

- the reference: ``sha256_file`` on each NIR reference file (what every run did before);
- the record: a new ``ContextResolver`` (as a new process makes) answering ``sha256_of`` for
  the same files, which stats each file and reads ``verified.json`` once; the first round
  hashes and records the files, the rest find them unchanged.

Prints the bytes checked, both medians, their ratio, and each one's tracemalloc peak. Then it
flips one byte of one file and prints whether the record still reports the change. Asserts nothing.

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
