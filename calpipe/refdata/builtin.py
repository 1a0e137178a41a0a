"""Built-in reference contexts: made offline by the plugins' deterministic builders.

Plugins declare reference sets with the built-in context number they first
appear in (demo: 1, later instruments: higher). `calpipe refdata init` (or the
first run that needs references) publishes them in order into an empty store,
or adds the missing ones to a store that holds only built-in contexts so far,
so that a pipeline's ``refdata: N`` means the same files everywhere.
"""

from __future__ import annotations

import logging
import tempfile
from itertools import groupby
from pathlib import Path
from typing import Any

from calpipe.core.errors import RefDataError
from calpipe.core.io import write_atomic

from .context import Context
from .store import Store

log = logging.getLogger("calpipe")


def ensure_initialised(store: Store, registry: Any, number: int | None) -> None:
    """Install the built-in contexts needed for ``number`` (all of them for None = latest)."""
    existing = store.context_numbers()
    if existing and (number is None or number in existing):
        return
    if number is not None and number not in {rs.context for rs in registry.refsets()}:
        return  # not a built-in context: store.load will say what exists
    if existing and not all(store.load(n).builtin for n in existing):
        return  # a local history: never mix built-in contexts into it (store.load explains a miss)
    log.info("reference store %s: building the built-in reference data", store.root)
    init(store, registry, number)


def init(store: Store, registry: Any, upto: int | None = None) -> list[Context]:
    """Publish the built-in contexts (up to number ``upto``) the store lacks; returns the new ones."""
    if store.staged():
        raise RefDataError(f"{store.staging_path}: files are staged; publish them before `refdata init`")
    existing = store.context_numbers()
    published = []
    for number, sets in groupby(registry.refsets(), key=lambda rs: rs.context):
        if upto is not None and number > upto:
            break
        sets = list(sets)
        if number in existing:
            if not store.load(number).builtin:
                raise RefDataError(f"{store.root}: context {number} was published locally, so built-in "
                                   f"context {number} ({', '.join(s.name for s in sets)}) cannot be "
                                   "installed here; use a fresh store (--refdata DIR)")
            continue
        latest = existing[-1] if existing else 0
        if number != latest + 1:
            raise RefDataError(f"{store.root}: built-in context {number} must follow context {number - 1}, "
                               f"but the latest here is {latest}; use a fresh store (--refdata DIR)")
        with tempfile.TemporaryDirectory() as tmp:
            for refset in sets:
                for name, model in refset.build():
                    store.add(write_atomic(model, Path(tmp) / name), registry.reftypes)
        names = ", ".join(s.name for s in sets)
        context = store.publish(f"built-in reference set(s): {names}", "calpipe refdata init",
                                registry.reftypes, builtin=True)
        log.info("published built-in reference context %s (%s)", context.name, names)
        published.append(context)
        existing.append(number)
    return published
