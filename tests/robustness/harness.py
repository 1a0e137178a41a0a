"""Run hostile calpipe command lines under a time and memory bound and check the invariants.

Every hostile case must end in a refusal: exit 2 (usage), 3 (input) or 4
(reference data), a message that names the file and the key at fault, no
traceback, nothing left in the output directory but finished products, and
every input byte unchanged. A case runs either in its own process
(`run_cli`, for kills, workers and process-wide state) or in a long-lived
worker process (`CliWorker`, for a large generated corpus), both under
`resource.setrlimit` and a wall-clock timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 3 * 2**30  # address space per case process, bytes (numba alone maps ~1 GiB)
TIMEOUT = 60.0  # wall-clock seconds per case
REFUSALS = frozenset({2, 3, 4})
_BINARIES = {"strun": "calpipe.core.cli.strun", "calpipe": "calpipe.core.cli.calpipe"}


@dataclass
class Result:
    """How one case ended; ``code`` is None after a timeout, "escaped" if an exception left main()."""

    argv: list[str]
    code: int | str | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.code is None

    def __str__(self) -> str:
        return (f"{' '.join(self.argv)}\n  exit {self.code} after {self.seconds:.1f} s\n"
                f"  stderr: {self.stderr[-2000:]}")


def _limit(memory: int):
    def apply() -> None:
        os.setsid()  # its own process group: a timeout kills the case and every worker it started
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_cli(prog: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
              memory: int = MEMORY_LIMIT) -> subprocess.Popen:
    """Start ``prog argv`` in its own process group under the memory bound (for tests that kill it)."""
    return subprocess.Popen([sys.executable, "-m", _BINARIES[prog], *argv], cwd=cwd, env=_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limit(memory))


def run_cli(prog: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT, memory: int = MEMORY_LIMIT) -> Result:
    """Run one command line in a fresh process; a timeout kills its whole process group."""
    start = time.perf_counter()
    proc = start_cli(prog, argv, cwd, env, memory)
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        code = None
    return Result([prog, *argv], code, out, err, time.perf_counter() - start)


class CliWorker:
    """One bounded process that runs many command lines in-process (see worker.py).

    A case that hangs or exhausts the memory bound kills the worker; the next
    case starts a fresh one, so one bad case never hides the others.
    """

    def __init__(self, memory: int = MEMORY_LIMIT, env: dict[str, str] | None = None):
        self.memory = memory
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "tests.robustness.worker"], cwd=ROOT,
                                env=_env(self.env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, preexec_fn=_limit(self.memory))
        ready = self._answer(proc, 120.0)
        if ready is None or not ready.get("ready"):
            kill_group(proc)
            raise RuntimeError("the robustness worker did not start")
        return proc

    @staticmethod
    def _answer(proc: subprocess.Popen, timeout: float) -> dict | None:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def run(self, prog: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT) -> Result:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        start = time.perf_counter()
        self.proc.stdin.write(json.dumps({"prog": prog, "argv": argv, "cwd": str(cwd),
                                          "env": env or {}}) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(self.proc, timeout)
        if answer is None:  # hung, or killed by the memory bound
            died = self.proc.poll()
            self.close()
            return Result([prog, *argv], None if died is None else f"died {died}", "",
                          "timed out" if died is None else f"worker died with {died}",
                          time.perf_counter() - start)
        return Result([prog, *argv], answer["code"], answer["stdout"], answer["stderr"], answer["seconds"])

    def close(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None


def fingerprint(paths: Iterable[Path]) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or directories), to prove inputs unchanged."""
    prints = {}
    for path in paths:
        files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [path]
        for f in files:
            with contextlib.suppress(OSError):  # unreadable on purpose: its mode is the fingerprint
                prints[str(f)] = hashlib.sha256(Path(f).read_bytes()).hexdigest()
    return prints


def leftovers(output_dir: Path) -> list[str]:
    """Files in ``output_dir`` that are not finished products: temp files, hidden files, partial names."""
    if not output_dir.is_dir():
        return []
    return sorted(str(p.relative_to(output_dir)) for p in output_dir.rglob("*")
                  if p.is_file() and (p.name.startswith(".") or p.name.endswith((".part", ".tmp"))))


def assert_refused(result: Result, names: Iterable[str] = (), codes: Iterable[int] = REFUSALS,
                   output_dir: Path | None = None, inputs: dict[str, str] | None = None) -> None:
    """The invariants of a refused hostile case; ``names`` are the file and key the message must name."""
    codes = set(codes)
    assert not result.timed_out, f"hang (killed after the timeout):\n{result}"
    assert result.code in codes, f"exit {result.code}, expected one of {sorted(codes)}:\n{result}"
    assert "Traceback" not in result.stderr, f"traceback without --debug:\n{result}"
    assert "internal error" not in result.stderr, f"reported as an internal error:\n{result}"
    for name in names:
        assert name in result.stderr, f"the message does not name {name!r}:\n{result}"
    if output_dir is not None:
        assert leftovers(output_dir) == [], f"temp files left in {output_dir}:\n{result}"
    if inputs is not None:
        assert fingerprint(Path(p) for p in inputs) == inputs, f"an input was modified:\n{result}"
