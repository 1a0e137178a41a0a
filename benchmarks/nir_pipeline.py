"""End-to-end wall time and peak RSS of ``strun nir_detector1`` and ``strun nir_image2``.

Simulates three raw exposures once (seeded): a full-frame 1 x 10 x 2048 x 2048 RAPID
ramp and two 256 x 256 subarray 1 x 10 ramps, RAPID and MEDIUM8. Each command runs
as a fresh subprocess, so start-up, reference loading and file I/O are included:
``strun nir_detector1 RAW -o OUT -q`` on each raw file, then ``strun nir_image2 RATE
-o OUT -q`` on the rate it wrote. A private reference store ($CALPIPE_REFDATA) and
numba cache ($NUMBA_CACHE_DIR) live in a temporary directory; one untimed warm-up
run of each command builds the store and fills the cache, then N runs are timed.
Each child's peak RSS comes from ``os.wait4`` on its own pid. One more full-frame
detector1 run at INFO gives the per-step split, and a bare ``python -c "import ..."``
gives the fixed cost of the imports. Prints figures beside their targets; asserts
nothing.

    python benchmarks/nir_pipeline.py [--runs N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

from children import Child, console_script, run_child, timed

MB = 1024  # ru_maxrss is in KiB on Linux; MB and GB here are 2**20 and 2**30 bytes
# What every strun process pays before any work: the imports, and asdf with the plugins strun loads
IMPORTS = ("from calpipe.core.models.asdf_plugins import load_only_calpipe_plugins; "
           "load_only_calpipe_plugins(); import numpy, astropy.io.fits, stdatamodels, asdf, numba; "
           "asdf.AsdfFile()")
STEP_DONE = re.compile(r"\bINFO\s+(\S+)\s+\S+ \S+ done in ([0-9.]+) s$")


class Case(NamedTuple):
    label: str
    readpatt: str
    subarray: str | int
    exposure: str  # names the simulated files
    target_s: float | None  # detector1 median wall
    target_mb: float | None  # detector1 peak RSS
    jwst: str  # jwst 3.0 detector1 figures, for comparison


CASES = (
    Case("FULL 1x10x2048x2048 RAPID", "RAPID", "FULL", "00001", 3.5, 1.4 * 1024, "17.7 s, 2.7 GB"),
    Case("SUB256 1x10x256x256 RAPID", "RAPID", 256, "00002", 0.8, None, "5.1 s"),
    Case("SUB256 1x10x256x256 MEDIUM8", "MEDIUM8", 256, "00003", 0.8, None, "5.1 s"),
)


def simulate_inputs(out_dir: Path, seed: int) -> list[Path]:
    """The raw file of each case, simulated in a child process.

    Not in this one: Linux starts a child's ru_maxrss at its parent's peak RSS
    (carried over at exec), so this process must stay small for the figures to
    be the children's own.
    """
    calls = "; ".join(f"print(simulate({str(out_dir)!r}, readpatt={c.readpatt!r}, ngroups=10, nints=1, "
                      f"subarray={c.subarray!r}, seed={seed}, exposure={c.exposure!r}).raw)" for c in CASES)
    code = f"from calpipe.instruments.nir.simulate import simulate; {calls}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"simulating the inputs failed:\n{proc.stderr}")
    return [Path(line) for line in proc.stdout.splitlines()]


def fmt_target(case: Case | None) -> str:
    if case is None or case.target_s is None:
        return "-"
    return f"{case.target_s:.1f} s" + (f", {case.target_mb / 1024:.1f} GB" if case.target_mb else "")


def verdict(case: Case | None, runs: list[Child]) -> str:
    if case is None or case.target_s is None:
        return ""
    ok = statistics.median(r.wall_s for r in runs) <= case.target_s
    if case.target_mb is not None:
        ok = ok and max(r.rss_mb for r in runs) <= case.target_mb
    return "ok" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1, help="simulation seed")
    args = ap.parse_args(argv)

    strun = console_script("strun", "calpipe.core.cli.strun")
    with tempfile.TemporaryDirectory(prefix="nir_pipeline.") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        raws = simulate_inputs(root / "inputs", args.seed)
        t_sim = time.perf_counter() - start
        env = dict(os.environ, CALPIPE_REFDATA=str(root / "refdata"), NUMBA_CACHE_DIR=str(root / "numba"))
        cwd = str(root / "cwd")  # no stray pipeline file can shadow a name
        os.mkdir(cwd)

        rows: list[tuple[str, Case | None, list[Child], Child]] = []
        for case, raw in zip(CASES, raws, strict=True):
            d1 = [*strun, "nir_detector1", str(raw), "-o", str(root / "detector1"), "-q"]
            runs, warm = timed(d1, env, cwd, args.runs)
            rows.append((f"nir_detector1  {case.label}", case, runs, warm))
            rate = root / "detector1" / raw.name.replace("_uncal.fits", "_rate.fits")
            if not rate.is_file():
                raise SystemExit(f"{' '.join(d1)} did not write {rate}")
            i2 = [*strun, "nir_image2", str(rate), "-o", str(root / "image2"), "-q"]
            runs, warm = timed(i2, env, cwd, args.runs)
            rows.append((f"nir_image2     {case.label}", None, runs, warm))

        # the full-frame detector1 once more at INFO (no -q), for the per-step split
        info = run_child([*strun, "nir_detector1", str(raws[0]), "-o", str(root / "detector1")], env, cwd)
        imports, _ = timed([sys.executable, "-c", IMPORTS], env, cwd, args.runs)
        sizes = {p.name: p.stat().st_size / 2**20 for p in raws}

    print(f"nir_pipeline: strun as fresh subprocesses, {args.runs} runs after 1 warm-up each; "
          f"{len(os.sched_getaffinity(0))} CPUs, numba {version('numba')} "
          f"(Python {sys.version.split()[0]}, {' '.join(strun)})")
    print(f"inputs simulated once (seed {args.seed}) in {t_sim:.1f} s: "
          + ", ".join(f"{c.label} {sizes[r.name]:.0f} MB" for c, r in zip(CASES, raws, strict=True))
          + "; private reference store and numba cache, filled by the warm-ups")
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MB
    print(f"peak RSS is each child's own (os.wait4); floor: this process's peak, {floor:.0f} MB")
    width = max(len(label) for label, *_ in rows)
    print(f"{'command':<{width}}  {'median':>7}  {'min':>7}  {'max':>7}  {'peak RSS med (min-max)':>24}  "
          f"{'warm-up':>7}  {'target':<14} {'':<4}  jwst 3.0")
    for label, case, runs, warm in rows:
        walls, rss = [r.wall_s for r in runs], [r.rss_mb for r in runs]
        med = statistics.median(walls)
        rss_text = f"{statistics.median(rss):.0f} MB ({min(rss):.0f}-{max(rss):.0f})"
        print(f"{label:<{width}}  {med:>6.2f}s  {min(walls):>6.2f}s  {max(walls):>6.2f}s  "
              f"{rss_text:>24}  {warm.wall_s:>6.2f}s  {fmt_target(case):<14} {verdict(case, runs):<4}  "
              f"{case.jwst if case else '-'}")

    steps = [(m[1], float(m[2])) for line in info.stderr.splitlines() if (m := STEP_DONE.search(line))]
    rest = info.wall_s - sum(s for _, s in steps)
    print(f"full-frame nir_detector1 at INFO, one run, {info.wall_s:.2f} s, "
          f"{info.rss_mb:.0f} MB: " + ", ".join(f"{name} {s:.2f}" for name, s in steps)
          + f", start-up, references, I/O {rest:.2f} s")
    walls, rss = [r.wall_s for r in imports], [r.rss_mb for r in imports]
    print(f"fixed cost, python -c \"{IMPORTS}\": median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}), peak RSS {statistics.median(rss):.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
