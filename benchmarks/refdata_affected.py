"""`calpipe refdata affected A B --catalog FILE` over a synthetic catalog of 100,000 observations.

Writes two contexts of synthetic rules (demo/flat and demo/mask selected by DETECTOR; context 2
adds flats and supersedes one mask) and a seeded CSV catalog into a temporary store. Times the
catalog read and the selection in-process and the whole command as a subprocess, prints how many
observations are affected and the peak memory, and checks a subset against a brute-force scan of
every rule. Prints figures beside the target; asserts nothing.

    python benchmarks/refdata_affected.py [--rows N] [--runs N] [--warmup N] [--check N] [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry
from calpipe.refdata.affected import Affected, affected, read_catalog
from calpipe.refdata.context import Context, RefTypeRules
from calpipe.refdata.rules import Rule, ambiguities, matches, parse_time
from calpipe.refdata.store import ENV_VAR, Store

TARGET_S = 2.0
INSTRUMENT = "demo"
PIPELINE = "generic_image2"  # registered; its steps need mask and flat
SELECTORS = ("DETECTOR",)
DETECTORS = tuple(f"DEMO{i}" for i in range(1, 11))
START, END = datetime(2010, 1, 1), datetime(2027, 1, 1)  # DATE-OBS and use-after span 2010-2026
# Rules for several detectors at once: wildcards and alternatives, on dates of their own.
WILDCARDS = ("2010-01-01", "2016-07-01", "2022-01-01")
ALTERNATIVES = (("DEMO1|DEMO2", "2012-05-01"), ("DEMO3|DEMO4|DEMO5", "2014-09-01"),
                ("DEMO1|DEMO2", "2019-03-15"), ("DEMO9|DEMO10", "2020-11-01"))
PER_DETECTOR = (4, 6)  # use-after dates per detector and reftype (inclusive range)
# Context 2: new flats (one of them for two detectors) and one mask superseded in place.
NEW_FLATS = (("DEMO2", "2024-02-01"), ("DEMO5", "2023-06-15"), ("DEMO7", "2025-01-10"),
             ("DEMO6|DEMO8", "2021-08-20"))
SUPERSEDED_MASK = "DEMO4"  # its second use-after date gets a replacement file


def rule(reftype: str, serial: int, detector: str, day: str, revision: int = 1) -> Rule:
    name = f"demo_{reftype}_{serial:04d}" + (f"_r{revision}" if revision > 1 else "") + ".fits"
    return Rule(hashlib.sha256(name.encode()).hexdigest(), name, f"{day}T00:00:00",
                (("DETECTOR", detector),))


def random_day(rng: random.Random) -> str:
    return (START + timedelta(days=rng.randrange((END - START).days))).date().isoformat()


def make_rules(reftype: str, rng: random.Random) -> list[Rule]:
    """Wildcards, alternatives and 4-6 use-after dates per detector; no two rules ambiguous."""
    specs = [("*", day) for day in WILDCARDS] + list(ALTERNATIVES)
    for detector in DETECTORS:
        # A detector's own dates avoid every date a rule covering it already has.
        taken = {day for pattern, day in specs if matches(pattern, detector)}
        for _ in range(rng.randint(*PER_DETECTOR)):
            day = random_day(rng)
            while day in taken:
                day = random_day(rng)
            taken.add(day)
            specs.append((detector, day))
    return [rule(reftype, i, pattern, day) for i, (pattern, day) in enumerate(specs, 1)]


def make_contexts(rng: random.Random) -> tuple[Context, Context]:
    flats, masks = make_rules("flat", rng), make_rules("mask", rng)
    one = Context(1, None, None, "2026-01-01T00:00:00+00:00", "benchmarks/refdata_affected.py",
                  "synthetic rule set", False,
                  {(INSTRUMENT, "flat"): RefTypeRules(SELECTORS, flats),
                   (INSTRUMENT, "mask"): RefTypeRules(SELECTORS, masks)})
    new_flats = [rule("flat", len(flats) + i, pattern, day) for i, (pattern, day) in enumerate(NEW_FLATS, 1)]
    old_mask = sorted((r for r in masks if r.select == (("DETECTOR", SUPERSEDED_MASK),)),
                      key=lambda r: r.when)[1]
    serial = int(old_mask.name.split("_")[2].split(".")[0])
    new_mask = rule("mask", serial, SUPERSEDED_MASK, old_mask.useafter[:10], revision=2)
    two = Context(2, 1, None, "2026-02-01T00:00:00+00:00", "benchmarks/refdata_affected.py",
                  "new flats; one mask superseded", False,
                  {(INSTRUMENT, "flat"): RefTypeRules(SELECTORS, flats + new_flats),
                   (INSTRUMENT, "mask"): RefTypeRules(SELECTORS, [new_mask if r == old_mask else r
                                                                    for r in masks])})
    for ctx in (one, two):
        for (instrument, reftype), t in ctx.types.items():
            if ambiguities(t.rules):
                raise SystemExit(f"benchmark bug: context {ctx.number} {instrument}/{reftype} "
                                 f"has ambiguous rules: {ambiguities(t.rules)}")
    return one, two


def write_store(root: Path, rng: random.Random) -> Store:
    store = Store(root)
    store.contexts_dir.mkdir(parents=True, exist_ok=True)
    one, two = make_contexts(rng)
    (store.contexts_dir / f"{one.number:04d}.yaml").write_text(one.to_yaml())
    two.parent_sha256 = hashlib.sha256(store.context_path(1).read_bytes()).hexdigest()
    (store.contexts_dir / f"{two.number:04d}.yaml").write_text(two.to_yaml())
    return store


def write_catalog(path: Path, n_rows: int, rng: random.Random) -> Path:
    span_ms = int((END - START).total_seconds() * 1000)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "pipeline", "INSTRUME", "DETECTOR", "DATE-OBS"])
        for i in range(n_rows):
            date = START + timedelta(milliseconds=rng.randrange(span_ms))
            writer.writerow([f"demo_{i:06d}", PIPELINE, "DEMO", rng.choice(DETECTORS),
                             date.isoformat(timespec="milliseconds")])
    return path


def brute_force(a: Context, b: Context, rows: list[dict[str, str]], reftypes_of) -> list[Affected]:
    """Every rule scanned for every row and reftype; the latest use-after <= DATE-OBS wins."""

    def choose(ctx: Context, row: dict[str, str], reftype: str):
        t = ctx.rules_for(row["INSTRUME"], reftype)
        when = parse_time(row["DATE-OBS"])
        best = None
        for r in t.rules if t else ():
            if r.when <= when and all(matches(p, row.get(k)) for k, p in r.select):
                if best is not None and r.when == best.when:
                    raise SystemExit(f"benchmark bug: {r.name} and {best.name} tie for {row['dataset']}")
                if best is None or r.when > best.when:
                    best = r
        return best

    out = []
    for row in rows:
        for reftype in reftypes_of(row["pipeline"]):
            old, new = choose(a, row, reftype), choose(b, row, reftype)
            if old != new:
                out.append(Affected(row["dataset"], reftype, old.name if old else None,
                                    new.name if new else None))
    return out


def timed(fn, runs: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1, help="untimed subprocess runs first")
    ap.add_argument("--check", type=int, default=2_000, help="rows checked by brute force")
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "refdata", rng)
        catalog = write_catalog(Path(tmp) / "catalog.csv", args.rows, rng)
        out_csv = Path(tmp) / "affected.csv"
        n_rules = {n: len(store.load(n).files()) for n in (1, 2)}

        # (a) in-process, as the command does it: contexts from YAML, reftypes from the pipeline.
        load_times, (a, b) = timed(lambda: (store.load(1), store.load(2)), args.runs)

        @functools.cache
        def reftypes_of(pipeline: str) -> tuple[str, ...]:
            return tuple(resolve(pipeline, get_registry()).reftypes())

        reftypes_of(PIPELINE)  # resolving the pipeline is a one-off cost, not the catalog's
        read_times, rows = timed(lambda: read_catalog(catalog), args.runs)
        select_times, found = timed(lambda: affected(a, b, rows, reftypes_of), args.runs)
        tracemalloc.start()
        affected(a, b, read_catalog(catalog), reftypes_of)
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        datasets = {f.dataset for f in found}
        by_type: dict[str, int] = {}
        for f in found:
            by_type[f.reftype] = by_type.get(f.reftype, 0) + 1

        # (b) the whole command, as a fresh process on the temporary store.
        argv_cmd = [sys.executable, "-m", "calpipe.core.cli.calpipe", "refdata", "--refdata",
                    str(store.root), "affected", "1", "2", "--catalog", str(catalog), "-o", str(out_csv)]
        env = {**os.environ, ENV_VAR: str(store.root)}
        wall, summary = [], ""
        for i in range(args.warmup + args.runs):
            start = time.perf_counter()
            proc = subprocess.run(argv_cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv_cmd)} exited {proc.returncode}:\n{proc.stderr}")
            summary = proc.stderr.strip().splitlines()[-1]
            if i >= args.warmup:
                wall.append(elapsed)
        maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_sub = maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB elsewhere
        with open(out_csv, newline="") as f:
            written = sum(1 for _ in csv.DictReader(f))

        # Independent check: brute force over every rule on a subset.
        subset = rows[:args.check]
        fast: dict[str, set[Affected]] = {}
        for f in affected(a, b, subset, reftypes_of):
            fast.setdefault(f.dataset, set()).add(f)
        slow: dict[str, set[Affected]] = {}
        for f in brute_force(a, b, subset, reftypes_of):
            slow.setdefault(f.dataset, set()).add(f)
        agree = sum(1 for row in subset if fast.get(row["dataset"], set()) == slow.get(row["dataset"], set()))
        slow_affected = len(slow)

    med_read, med_select = statistics.median(read_times), statistics.median(select_times)
    med_wall = statistics.median(wall)
    print(f"refdata_affected: {args.rows:,} observations ({PIPELINE}: {', '.join(reftypes_of(PIPELINE))}; "
          f"{len(DETECTORS)} detectors), contexts of {n_rules[1]} and {n_rules[2]} rules, "
          f"{args.runs} runs (Python {sys.version.split()[0]})")
    table = [
        ("in-process read_catalog (median)", f"{med_read * 1e3:.1f} ms", "", ""),
        ("in-process affected() (median)", f"{med_select * 1e3:.1f} ms", "", ""),
        ("in-process read + select (median)", f"{(med_read + med_select) * 1e3:.1f} ms", "", ""),
        ("  (min/max of read, select)", f"{min(read_times) * 1e3:.0f}/{max(read_times) * 1e3:.0f}, "
                                        f"{min(select_times) * 1e3:.0f}/{max(select_times) * 1e3:.0f} ms",
         "", ""),
        ("load contexts 1 and 2 (median)", f"{statistics.median(load_times) * 1e3:.1f} ms", "", ""),
        ("tracemalloc peak, read + select", f"{peak_in / 2**20:.1f} MiB", "", ""),
        ("command wall time (median)", f"{med_wall:.3f} s", f"<= {TARGET_S} s",
         "ok" if med_wall <= TARGET_S else "MISS"),
        ("command wall time (min/max)", f"{min(wall):.3f} / {max(wall):.3f} s", "", ""),
        ("command peak RSS (ru_maxrss)", f"{peak_sub / 2**20:.1f} MiB", "", ""),
    ]
    width = max(len(r[0]) for r in table)
    print(f"{'measure':<{width}}  {'value':>22}  {'target':>8}")
    for label, value, target, verdict in table:
        print(f"{label:<{width}}  {value:>22}  {target:>8}  {verdict}".rstrip())
    print(f"affected in-process: {len(datasets):,} of {len(rows):,} observations, {len(found):,} "
          f"(observation, reftype) pairs ({', '.join(f'{t}: {n:,}' for t, n in sorted(by_type.items()))})")
    print(f"affected by the command: {summary}; {written:,} rows in -o CSV")
    print(f"brute-force check: {agree}/{len(subset)} agree (first {len(subset):,} rows, "
          f"{slow_affected} affected by brute force)")
    print(f"(command: {' '.join(argv_cmd[:3])} refdata --refdata STORE affected 1 2 --catalog CSV "
          f"-o OUT, with ${ENV_VAR}=STORE; {args.warmup} warm-up run(s) untimed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
