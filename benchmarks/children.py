"""What the benchmark scripts share: finding console scripts, and timing child processes.

Peak memory is measured per child with os.wait4 (ru_maxrss), which reports the
child and its reaped descendants (e.g. strun -j workers), not the sum of them,
and not this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

MB = 1024  # ru_maxrss is in KiB on Linux; MB here is 2**20 bytes


class Child(NamedTuple):
    wall_s: float
    rss_mb: float
    stdout: str
    stderr: str


def console_script(name: str, module: str) -> list[str]:
    """The installed console script beside this interpreter, else ``python -m module``."""
    bindir = Path(sys.executable).parent
    for candidate in (bindir / name, bindir / f"{name}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    return [sys.executable, "-m", module]


def run_child(argv: list[str], env: dict[str, str], cwd: str) -> Child:
    """Run ``argv`` to completion; wall time and its peak RSS (wait4 on its pid).

    wait4 reports the largest of the child and its reaped descendants (the -j
    workers), not their sum.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        child = Child(wall, usage.ru_maxrss / MB, out.read(), err.read())
    if proc.returncode != 0:
        shown = argv if len(argv) < 12 else [*argv[:4], "...", *argv[-5:]]
        raise SystemExit(f"{' '.join(shown)} exited {proc.returncode}:\n{child.stderr}")
    return child


def timed(argv: list[str], env: dict[str, str], cwd: str, runs: int) -> tuple[list[Child], Child]:
    """One untimed warm-up run, then ``runs`` timed ones; returns (timed runs, warm-up)."""
    warm = run_child(argv, env, cwd)
    return [run_child(argv, env, cwd) for _ in range(runs)], warm
