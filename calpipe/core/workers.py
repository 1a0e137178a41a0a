"""Worker processes in which a dead worker costs only the input it was running.

concurrent.futures breaks the whole pool when one worker dies: every input not
yet finished fails with "worker process died". Here each worker takes one input
at a time over its own pipe, so the parent knows which input a dead worker
held; that input is retried once in a fresh worker, then reported, and the
others never notice. Workers die with their parent: on Linux the kernel kills
them when it exits (PR_SET_PDEATHSIG), elsewhere a watchdog thread sees the
parent's pid change within a second. They ignore Ctrl-C, which the parent
handles by stopping them.

Workers are spawned, not forked (numba's OpenMP runtime does not survive a fork).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ATTEMPTS = 2  # a dead worker's input is run once more, in a fresh worker
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _serve(conn: Any, make_runner: Callable[[], Any], parent: int) -> None:
    """A worker's life: build the runner once, then run every task it is sent until None."""
    from .errors import CalpipeError
    from .runner import Outcome, run_one

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        runner, failure = make_runner(), None
    except Exception as exc:  # every task of this worker reports why it could not start
        code = exc.exit_code if isinstance(exc, CalpipeError) else 1
        runner, failure = None, (str(exc) if code != 1 else f"internal error: {type(exc).__name__}: {exc}",
                                 code)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        index, group, output_dir, save = task
        if failure is not None:
            outcome = Outcome(group.source, error=failure[0], exit_code=failure[1])
        else:
            outcome = run_one(runner, group, output_dir, save)
        conn.send((index, outcome))


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"


def run_pool(make_runner: Callable[[], Any], groups: Sequence[Any], output_dir: Path, jobs: int,
             save_intermediates: bool, progress: Callable[[Any], None] | None = None) -> list[Any]:
    """Run ``groups`` in ``jobs`` spawned workers; the outcomes, in the order of ``groups``."""
    import multiprocessing
    from multiprocessing.connection import wait

    from .runner import Outcome

    ctx = multiprocessing.get_context("spawn")
    pending = deque(enumerate(groups))
    tries = [0] * len(groups)
    results: dict[int, Any] = {}
    workers: dict[Any, list] = {}  # parent end of the pipe -> [process, task or None]

    def start() -> None:
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(theirs, make_runner, os.getpid()), daemon=True,
                           name="calpipe-worker")
        proc.start()
        theirs.close()
        workers[mine] = [proc, None]

    def done(index: int, outcome: Any) -> None:
        results[index] = outcome
        if progress:
            progress(outcome)

    def buried(conn: Any) -> None:
        proc, task = workers.pop(conn)
        conn.close()
        proc.join()
        if task is None:
            return
        index, group = task
        tries[index] += 1
        if tries[index] < ATTEMPTS:
            pending.appendleft(task)
        else:
            done(index, Outcome(group.source, error=f"the worker process running it died "
                                f"({_how(proc.exitcode)}), also when retried; its output was not "
                                "written (is it too large for the memory available?)", exit_code=1))

    try:
        for _ in range(min(jobs, len(groups))):
            start()
        while len(results) < len(groups):
            for conn, slot in workers.items():
                if slot[1] is None and pending:
                    slot[1] = pending.popleft()
                    with contextlib.suppress(OSError):  # dead already: its sentinel says so below
                        conn.send((*slot[1], output_dir, save_intermediates))
            sentinels = {slot[0].sentinel: conn for conn, slot in workers.items()}
            for ready in wait([*workers, *sentinels]):
                conn = sentinels.get(ready, ready)
                if conn not in workers:
                    continue
                try:
                    index, outcome = conn.recv() if conn.poll() else (None, None)
                except (EOFError, OSError):
                    index = None
                if index is not None:
                    workers[conn][1] = None
                    done(index, outcome)
                elif not workers[conn][0].is_alive():
                    buried(conn)
            busy = sum(1 for slot in workers.values() if slot[1] is not None)
            while pending and len(workers) < min(jobs, busy + len(pending)):
                start()
    finally:
        for conn in list(workers):
            with contextlib.suppress(OSError):
                conn.send(None)
        for conn, (proc, _) in list(workers.items()):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
    return [results[i] for i in range(len(groups))]
