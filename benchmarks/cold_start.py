"""Cold-start wall time of the command-line entry points, and what they import.

Each command is run as a fresh subprocess (2 warm-up runs, then N timed runs);
then each is rerun in-process under ``python -X importtime`` to show whether
numpy / stdatamodels / astropy were imported and which imports cost the most.
Prints figures beside their targets; asserts nothing.

    python benchmarks/cold_start.py [--runs N] [--warmup N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from children import console_script

HEAVY = ("numpy", "stdatamodels", "astropy")
TOP = 8


class Command(NamedTuple):
    label: str
    argv: list[str]
    code: str  # the same command in-process, for -X importtime
    target_s: float


def commands() -> list[Command]:
    strun = console_script("strun", "calpipe.core.cli.strun")
    calpipe = console_script("calpipe", "calpipe.core.cli.calpipe")
    run_strun = "from calpipe.core.cli.strun import main; main({})"
    return [
        Command("strun --help", [*strun, "--help"], run_strun.format(["--help"]), 0.2),
        Command("strun generic_image2 --help", [*strun, "generic_image2", "--help"],
                run_strun.format(["generic_image2", "--help"]), 0.5),
        Command("calpipe list", [*calpipe, "list"],
                "from calpipe.core.cli.calpipe import main; main(['list'])", 0.5),
    ]


def wall_times(argv: list[str], runs: int, warmup: int, cwd: str) -> list[float]:
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}")
        if i >= warmup:
            times.append(elapsed)
    return times


class Import(NamedTuple):
    name: str
    depth: int
    self_us: int
    cumulative_us: int


def import_times(code: str, cwd: str) -> list[Import]:
    """Parse ``-X importtime`` (stderr): 'import time: self | cumulative | <indent>name'."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        raw = parts[2].rstrip()
        name = raw.lstrip()
        depth = (len(raw) - len(name) - 1) // 2
        out.append(Import(name, depth, int(parts[0]), int(parts[1])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)

    cmds = commands()
    with tempfile.TemporaryDirectory() as cwd:  # no stray pipeline file can shadow a name
        timings = [wall_times(c.argv, args.runs, args.warmup, cwd) for c in cmds]
        imports = [import_times(c.code, cwd) for c in cmds]

    print(f"cold_start: wall time of fresh processes, {args.runs} runs after {args.warmup} warm-up "
          f"(Python {sys.version.split()[0]}, {sys.executable})")
    width = max(len(c.label) for c in cmds)
    print(f"{'command':<{width}}  {'median':>8}  {'min':>8}  {'max':>8}  {'target':>8}")
    for c, t in zip(cmds, timings, strict=True):
        med = statistics.median(t)
        verdict = "ok" if med <= c.target_s else "MISS"
        print(f"{c.label:<{width}}  {med:>7.3f}s  {min(t):>7.3f}s  {max(t):>7.3f}s  "
              f"{c.target_s:>7.1f}s  {verdict}")
    print(f"(commands: {'; '.join(' '.join(c.argv) for c in cmds)})")

    for c, imps in zip(cmds, imports, strict=True):
        names = {i.name for i in imps}
        heavy = ", ".join(f"{h} {'YES' if any(n == h or n.startswith(h + '.') for n in names) else 'no'}"
                          for h in HEAVY)
        total_ms = sum(i.cumulative_us for i in imps if i.depth == 0) / 1e3
        print(f"\nimports of '{c.label}' (python -X importtime -c \"{c.code}\")")
        print(f"  {len(imps)} modules, {total_ms:.1f} ms of imports; imported: {heavy}")
        print(f"  top {TOP} by cumulative time (indent = nesting):")
        print(f"    {'cumul.':>8}     {'self':>6}")
        for i in sorted(imps, key=lambda i: i.cumulative_us, reverse=True)[:TOP]:
            print(f"    {i.cumulative_us / 1e3:8.1f} ms  {i.self_us / 1e3:6.1f} ms  {'  ' * i.depth}{i.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
