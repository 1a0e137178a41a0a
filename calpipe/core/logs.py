"""Log lines a user can follow: each says which input (and band) it is about, wherever it ran.

The runner sets :data:`INPUT` while it works on an input and wraps each step in
:func:`step_warnings`, so a library's warning becomes one log line naming the step, the
input and the band instead of a raw ``warnings`` line with a site-packages path. `-j`
workers send their records to the parent through a queue (:func:`worker_logging`), so
their step lines reach the same handlers, prefixed by their input.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(input_prefix)s%(message)s"
INPUT: ContextVar[str | None] = ContextVar("calpipe_input", default=None)
log = logging.getLogger("calpipe")


class InputPrefix(logging.Filter):
    """Adds ``input_prefix`` ("NAME: " while an input is being run) to records that lack one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "input_prefix"):  # a worker's record arrives with its own
            name = INPUT.get()
            record.input_prefix = f"{name}: " if name else ""
        return True


def handler(stream_or_path: Any, level: int) -> logging.Handler:
    """A stream handler (or a file handler, given a path) with calpipe's format and prefix."""
    out = (logging.StreamHandler(stream_or_path) if hasattr(stream_or_path, "write")
           else logging.FileHandler(stream_or_path, mode="w", encoding="utf-8"))
    out.setLevel(level)
    out.setFormatter(logging.Formatter(FORMAT))
    out.addFilter(InputPrefix())
    return out


@contextlib.contextmanager
def running(name: str) -> Iterator[None]:
    """Log lines emitted inside are about input ``name``."""
    token = INPUT.set(name)
    try:
        yield
    finally:
        INPUT.reset(token)


@contextlib.contextmanager
def step_warnings(step_id: str, band: str = "") -> Iterator[None]:
    """Warnings raised inside become one WARNING log line each (repeats counted), naming the step."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: dict[tuple[str, str], int] = {}
    for w in caught:
        key = (w.category.__name__, str(w.message))
        seen[key] = seen.get(key, 0) + 1
    where = f"{step_id} [{band}]" if band else step_id
    for (category, message), count in seen.items():
        times = f" ({count} times)" if count > 1 else ""
        log.warning("%s: %s: %s%s", where, category, message, times)


def levels() -> tuple[int, int]:
    """The root's and calpipe's effective levels, for workers to log as this process does."""
    return logging.getLogger().getEffectiveLevel(), log.getEffectiveLevel()


def worker_logging(queue: Any, root_level: int, calpipe_level: int) -> None:
    """In a worker process: send every record to the parent's queue, nothing to local streams."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    queued = logging.handlers.QueueHandler(queue)
    queued.addFilter(InputPrefix())
    root.addHandler(queued)
    root.setLevel(root_level)
    log.setLevel(calpipe_level)
    logging.captureWarnings(True)


@contextlib.contextmanager
def forwarded(queue: Any) -> Iterator[None]:
    """In the parent: hand the workers' records to this process's handlers while inside."""
    root = logging.getLogger()
    listener = logging.handlers.QueueListener(queue, *root.handlers, respect_handler_level=True)
    listener.start()
    try:
        yield
    finally:
        listener.stop()
