"""Built-in reference contexts: made offline by the plugins' deterministic builders.

Plugins declare reference sets with the built-in context number they first
appear in (demo 1, nir 2, ...); built-in context k holds every set numbered
up to k. They are installed on first use (or by `calpipe refdata init`) under
the store lock, from a private staging list, so concurrent first runs and a
user's own staged files never mix. Their numbers (< 1000) never collide with
locally published contexts, so a pipeline's ``refdata: N`` means the same
files in every store.
"""

from __future__ import annotations

import logging
import tempfile
from itertools import groupby
from pathlib import Path
from typing import Any

from calpipe.core.io import write_atomic

from .context import Context
from .store import Store

log = logging.getLogger("calpipe")


def ensure_initialised(store: Store, registry: Any, number: int | None) -> None:
    """Install what ``number`` needs: its built-in context, or all of them for an empty store."""
    builtin = {rs.context for rs in registry.refsets()}
    existing = store.context_numbers()
    if number is None and existing:
        return
    if number is not None and (number in existing or number not in builtin):
        return  # present, or not built-in: store.load says what exists
    init(store, registry, number)


def init(store: Store, registry: Any, upto: int | None = None) -> list[Context]:
    """Publish the built-in contexts (up to number ``upto``) the store lacks; returns the new ones."""
    published = []
    with store.lock():
        existing = set(store.context_numbers())
        previous = None
        for number, sets in groupby(registry.refsets(), key=lambda rs: rs.context):
            if upto is not None and number > upto:
                break
            sets = list(sets)
            if number not in existing:
                log.info("reference store %s: building built-in context %d", store.root, number)
                entries = []
                with tempfile.TemporaryDirectory() as tmp:
                    for refset in sets:
                        for name, model in refset.build():
                            entries.append(store.ingest(write_atomic(model, Path(tmp) / name),
                                                        registry.reftypes))
                names = ", ".join(s.name for s in sets)
                published.append(store.publish_entries(
                    entries, f"built-in reference set(s): {names}", "calpipe refdata init",
                    registry.reftypes, number=number, parent=previous, builtin=True))
            previous = number
    return published
