"""Archive ingest throughput (exposures/s, with and without sandbox processing) and `get` latency.

Simulates N NIR exposures (256x256 subarray, 10 groups) as one downlink of N/2 telemetry files,
then, in-process on fresh embedded archives: ingests them with sandbox processing
(nir_detector1 then nir_image2) and without it (extraction and registration only, the
processing hook answering nothing), interleaving the two, and times `get --as-archived` of a
stored product and `get --latest` made on the fly (after a newer reference context is
published). Prints medians; asserts nothing.

    python benchmarks/archive_ingest.py [--exposures N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from calpipe.archive.directory import Archive
from calpipe.archive.ingest import ingest
from calpipe.archive.retrieve import get
from calpipe.core.registry import get_registry
from calpipe.instruments.nir.simulate import simulate_dithers
from calpipe.level0.downlink import simulate_downlink

GET_TARGET_MS = 50.0


class NoProcessing:
    """The installed registry, except that no instrument declares a processing chain."""

    def __init__(self, registry):
        self._registry = registry

    def __getattr__(self, name):
        return getattr(self._registry, name)

    def processing_for(self, instrument, keyword):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exposures", type=int, default=6)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("CALPIPE_REFDATA", str(tmp / "refdata"))
        sims = simulate_dithers(tmp / "raw", args.exposures, seed=1, subarray=256, ngroups=10)
        files, _ = simulate_downlink([s.raw for s in sims], tmp / "tlm", files=max(1, args.exposures // 2))
        registry = get_registry()
        warm = Archive.init(tmp / "warm")
        ingest(warm, files[:1] + files[1:2])  # numba kernels, reference files, imports
        rates: dict[str, list[float]] = {"with": [], "without": []}
        for run in range(args.runs):
            for mode in ("with", "without"):
                archive = Archive.init(tmp / f"{mode}{run}",
                                       registry=registry if mode == "with" else NoProcessing(registry))
                start = time.perf_counter()
                report = ingest(archive, files)
                elapsed = time.perf_counter() - start
                if report.exit_code and mode == "with":  # without: each exposure reported unprocessed
                    raise SystemExit(f"ingest failed: {report.problems}")
                rates[mode].append(args.exposures / elapsed)
                archive.close()
        archive = Archive.open(tmp / "with0")
        obs = sims[0].raw.name.removesuffix("_uncal.fits")
        get(archive, obs, tmp / "get")
        times = []
        for i in range(30):
            start = time.perf_counter()
            get(archive, obs, tmp / f"get{i}")
            times.append((time.perf_counter() - start) * 1000)
        latest = []
        for i in range(args.runs):  # each on a fresh archive, so that it is really made
            fresh = Archive.open(tmp / f"with{i}")
            fresh.refdata = tmp / f"refdata_latest{i}"
            from calpipe.refdata.builtin import init
            from calpipe.refdata.store import Store

            init(Store(fresh.refdata), registry, upto=2)
            _publish_newer_flat(Store(fresh.refdata), registry, tmp / f"staged{i}")
            start = time.perf_counter()
            get(fresh, obs, tmp / f"latest{i}", mode="latest")
            latest.append(time.perf_counter() - start)
    print(f"archive_ingest: {args.exposures} NIR 256x256x10-group exposures in {len(files)} telemetry files, "
          f"{args.runs} interleaved runs each, in-process, embedded SQLite (Python {sys.version.split()[0]})")
    print(f"  with sandbox processing (nir_detector1 + nir_image2): median "
          f"{statistics.median(rates['with']):.2f} exposures/s")
    print(f"  without (extract + register only):                   median "
          f"{statistics.median(rates['without']):.2f} exposures/s")
    print(f"  get --as-archived of a stored product: median {statistics.median(times):.1f} ms "
          f"(target <= {GET_TARGET_MS:.0f} ms), max {max(times):.1f} ms")
    print(f"  get --latest made on the fly (both pipelines, new context): median "
          f"{statistics.median(latest):.2f} s")
    return 0


def _publish_newer_flat(store, registry, staged: Path) -> None:
    from calpipe.core.io import open_product, write_atomic

    rule = next(r for r in store.load(2).files().values() if r.name.startswith("nir_") and "_flat_" in r.name)
    old = open_product(store.file_path(rule.sha256))
    new = type(old)(data=old.data * 1.01, err=old.err, dq=old.dq)
    new.meta.reftype, new.meta.useafter = old.meta.reftype, old.meta.useafter
    new.meta.instrument.name = old.meta.instrument.name
    new.meta.instrument.detector = old.meta.instrument.detector
    store.add(write_atomic(new, staged / rule.name.replace(".fits", "_b.fits")), registry.reftypes)
    store.publish("benchmark: a newer flat", "benchmark", registry.reftypes)


if __name__ == "__main__":
    sys.exit(main())
