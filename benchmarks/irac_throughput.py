"""Batch throughput of ``strun irac_bcd`` on simulated IRAC frames, in frames per second.

Simulates one AOR of N channel-1 12 s frames once (seeded, in a child process) and runs
``strun irac_bcd RAW... -o OUT -q -j 2`` on all of them as one fresh subprocess, so start-up,
reference loading, worker spawning and file I/O are included; then the same with ``-j 1``, and
``strun`` on one frame for the fixed cost. A private reference store ($CALPIPE_REFDATA) and numba
cache ($NUMBA_CACHE_DIR) live in a temporary directory; one untimed warm-up run of each batch
command builds the store and fills the caches, then N runs are timed. Peak RSS comes from
``os.wait4`` on the strun pid. Last, in this process, frames go one at a time through
``Runner.run_product`` (steps alone, with the per-step split from the StepRecord durations),
``Runner.finish`` and ``write_atomic``. Prints figures beside the target; asserts nothing.

    python benchmarks/irac_throughput.py [--frames N] [--runs N] [--reps N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from children import Child, console_script, run_child, timed

MB = 1024  # ru_maxrss is in KiB on Linux; MB here is 2**20 bytes
TARGET_FPS = 50.0  # frames/s with -j 2 on a 2-core machine
JOBS = (2, 1)  # the target is for the first
PIPELINE, SUFFIX = "irac_bcd", "bcd"
LOOP = "import time; t = time.perf_counter()\nwhile time.perf_counter() - t < 0.5: sum(range(1000))"


def simulate_inputs(out_dir: Path, frames: int, seed: int) -> list[Path]:
    """The raw frames of one AOR, simulated in a child process.

    Not in this one: Linux starts a child's ru_maxrss at its parent's peak RSS
    (carried over at exec), so this process must stay small for the figures to
    be the children's own.
    """
    code = ("from calpipe.instruments.irac.simulate import simulate\n"
            f"for f in simulate({str(out_dir)!r}, channel=1, frame_time=12.0, naor_frames={frames}, "
            f"seed={seed}):\n    print(f.raw)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"simulating the inputs failed:\n{proc.stderr}")
    return [Path(line) for line in proc.stdout.splitlines()]


def cpu_check(env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall time of a 0.5 s busy loop alone, and of two started together (2 real cores: about equal)."""
    argv = [sys.executable, "-c", LOOP]
    alone = run_child(argv, env, cwd).wall_s
    start = time.perf_counter()
    procs = [subprocess.Popen(argv, cwd=cwd, env=env) for _ in range(2)]
    for p in procs:
        p.wait()
    return alone, time.perf_counter() - start


class InProcess(NamedTuple):
    read_ms: list[float]  # open_product, plus the input hash and check run_file does
    steps_ms: list[float]  # Runner.run_product
    per_step_ms: dict[str, list[float]]  # StepRecord.duration_s
    finish_ms: list[float]  # Runner.finish
    write_ms: list[float]  # write_atomic
    first_ms: float  # the first frame, every stage (lazy imports, references)


def in_process(raws: list[Path], store: Path, out_dir: Path, reps: int) -> InProcess:
    """Frames one at a time through the runner in this process; the first is a warm-up."""
    import logging

    from calpipe.core.io import open_product, write_atomic
    from calpipe.core.models.asdf_plugins import load_only_calpipe_plugins
    from calpipe.core.pipeline import resolve
    from calpipe.core.provenance import input_summary, sha256_file
    from calpipe.core.registry import get_registry
    from calpipe.core.runner import Runner, output_stem

    logging.basicConfig(level=logging.WARNING, force=True)  # as strun -q
    load_only_calpipe_plugins()  # as strun
    registry = get_registry()
    pipeline = resolve(PIPELINE, registry)
    runner = Runner(pipeline, registry.ref_resolver(pipeline, None, store, {}), registry=registry)
    res = InProcess([], [], {s.id: [] for s in pipeline.steps}, [], [], 0.0)
    for i in range(reps + 1):
        path = raws[i % len(raws)]
        t0 = time.perf_counter()
        product = open_product(path, runner.models)
        runner.check_input(product, path.name)
        inputs = [input_summary(path.name, sha256_file(path), product)]
        t1 = time.perf_counter()
        result = runner.run_product(product, path.name)
        t2 = time.perf_counter()
        bcd = runner.finish(result, inputs)
        t3 = time.perf_counter()
        write_atomic(bcd, out_dir / f"{output_stem(path)}_{SUFFIX}.fits")
        t4 = time.perf_counter()
        if i == 0:
            res = res._replace(first_ms=(t4 - t0) * 1e3)
            continue
        res.read_ms.append((t1 - t0) * 1e3)
        res.steps_ms.append((t2 - t1) * 1e3)
        res.finish_ms.append((t3 - t2) * 1e3)
        res.write_ms.append((t4 - t3) * 1e3)
        for record in result.steps:
            res.per_step_ms[record.id].append(record.duration_s * 1e3)
    return res


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    return (f"{statistics.median(values):.{digits}f} {unit} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="frames in the AOR (one strun batch)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command, after 1 warm-up")
    ap.add_argument("--reps", type=int, default=20, help="frames timed in-process, after 1 warm-up")
    ap.add_argument("--seed", type=int, default=1, help="simulation seed")
    args = ap.parse_args(argv)
    if args.frames < 2 or args.runs < 1 or args.reps < 1:
        ap.error("need --frames >= 2, --runs >= 1 and --reps >= 1")

    strun = console_script("strun", "calpipe.core.cli.strun")
    with tempfile.TemporaryDirectory(prefix="irac_throughput.") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        raws = simulate_inputs(root / "inputs", args.frames, args.seed)
        t_sim = time.perf_counter() - start
        raw_mb = sum(p.stat().st_size for p in raws) / 2**20
        env = dict(os.environ, CALPIPE_REFDATA=str(root / "refdata"), NUMBA_CACHE_DIR=str(root / "numba"))
        cwd = str(root / "cwd")  # no stray pipeline file can shadow the name
        os.mkdir(cwd)

        batches: dict[int, tuple[list[Child], Child]] = {}
        for jobs in JOBS:
            out = root / f"bcd_j{jobs}"
            batches[jobs] = timed([*strun, PIPELINE, *map(str, raws), "-o", str(out), "-q", "-j", str(jobs)],
                                  env, cwd, args.runs)
            written = len(list(out.glob(f"*_{SUFFIX}.fits")))
            if written != len(raws):
                raise SystemExit(f"strun -j {jobs} wrote {written} BCDs for {len(raws)} frames")
        single = [run_child([*strun, PIPELINE, str(raws[0]), "-o", str(root / "bcd_one"), "-q"], env, cwd)
                  for _ in range(args.runs)]  # caches already warm
        alone, pair = cpu_check(env, cwd)
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MB  # before calpipe comes in
        (root / "inproc").mkdir()
        inproc = in_process(raws, root / "refdata", root / "inproc", args.reps)

    n = len(raws)
    print(f"irac_throughput: strun {PIPELINE} on {n} frames as one fresh subprocess, {args.runs} runs "
          f"after 1 warm-up each; {len(os.sched_getaffinity(0))} CPUs (Python {sys.version.split()[0]}, "
          f"{' '.join(strun)})")
    print(f"inputs: one AOR of {n} IRAC ch1 12 s frames (seed {args.seed}, {raw_mb:.0f} MB raw), simulated "
          f"once in {t_sim:.1f} s; private reference store and numba cache, filled by the first warm-up")
    print(f"CPU check: a 0.5 s busy loop takes {alone:.2f} s alone, {pair:.2f} s as two at once "
          f"(2 usable cores: about equal; 1: double)")
    print(f"peak RSS is the largest of strun and its workers (os.wait4); floor: this process's peak "
          f"then, {floor:.0f} MB")
    print(f"{'command':<22}  {'frames/s':>8}  {'ms/frame':>8}  {'wall median (min-max)':>24}  "
          f"{'peak RSS med (min-max)':>22}  {'warm-up':>7}  target")
    for jobs, (runs, warm) in batches.items():
        walls, rss = [r.wall_s for r in runs], [r.rss_mb for r in runs]
        med = statistics.median(walls)
        fps = n / med
        target = f">= {TARGET_FPS:.0f} frames/s {'ok' if fps >= TARGET_FPS else 'MISS'}" if jobs == 2 else "-"
        print(f"{f'-j {jobs}, {n} frames':<22}  {fps:>8.2f}  {med / n * 1e3:>8.1f}  "
              f"{spread(walls, 's'):>24}  {spread(rss, 'MB', 0):>22}  {warm.wall_s:>6.1f}s  {target}")
    walls, rss = [r.wall_s for r in single], [r.rss_mb for r in single]
    print(f"{'1 frame (fixed cost)':<22}  {1 / statistics.median(walls):>8.2f}  "
          f"{statistics.median(walls) * 1e3:>8.0f}  {spread(walls, 's'):>24}  {spread(rss, 'MB', 0):>22}  "
          f"{'-':>7}  -")

    med = {k: statistics.median(v) for k, v in inproc.per_step_ms.items()}
    steps, read, fin, write = (statistics.median(v) for v in
                               (inproc.steps_ms, inproc.read_ms, inproc.finish_ms, inproc.write_ms))
    total = read + steps + fin + write
    print(f"in-process, median of {args.reps} frames (after 1 warm-up frame, {inproc.first_ms:.0f} ms): "
          f"steps (run_product) {spread(inproc.steps_ms, 'ms', 1)}; read (open_product, hash, check) "
          f"{read:.1f} ms; finish {fin:.1f} ms; write one BCD (write_atomic) "
          f"{spread(inproc.write_ms, 'ms', 1)}; together {total:.1f} ms = {1e3 / total:.2f} frames/s "
          "on one core")
    print("per step, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items())
          + f"; sum {sum(med.values()):.1f}, references and runner {steps - sum(med.values()):.1f}")
    top = sorted(med.items(), key=lambda kv: -kv[1])[:3]
    print("largest steps: " + ", ".join(f"{k} {v:.1f} ms ({v / total:.0%} of a frame)" for k, v in top))
    j1 = statistics.median(r.wall_s for r in batches[1][0])
    fixed = statistics.median(walls) - total / 1e3
    print(f"-j 1 accounted for: start-up {fixed:.2f} s (1-frame strun minus one frame in-process) "
          f"+ {n} x {total:.1f} ms = {fixed + n * total / 1e3:.1f} s, measured {j1:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
