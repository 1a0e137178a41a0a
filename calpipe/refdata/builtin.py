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


def repair(store: Store, registry: Any) -> list[str]:
    """Rebuild the built-in reference files missing from the store; the names restored.

    The builders are deterministic, so a rebuilt file has the bytes of the one
    published, and it is taken only if its sha256 is the address the context names.
    """
    from calpipe.core.errors import RefDataError
    from calpipe.core.provenance import sha256_file

    from .store import FIRST_LOCAL

    with store.lock():
        missing: dict[str, tuple[str, int]] = {}  # sha256 -> (name, first built-in context holding it)
        for number in store.context_numbers():
            if number >= FIRST_LOCAL:
                break
            for sha, rule in store.load(number).files().items():
                if sha not in missing and not store.file_path(sha).is_file():
                    missing[sha] = (rule.name, number)
        if not missing:
            return []
        numbers = {n for _, n in missing.values()}
        restored = []
        with tempfile.TemporaryDirectory() as tmp:
            for refset in registry.refsets():
                if refset.context not in numbers:
                    continue
                log.info("reference store %s: rebuilding built-in set %s", store.root, refset.name)
                for name, model in refset.build():
                    path = write_atomic(model, Path(tmp) / name)
                    sha = sha256_file(path)
                    if sha in missing:
                        store.copy_in(path, sha)
                        restored.append(missing.pop(sha)[0])
    if missing:
        raise RefDataError(f"{store.root}: built-in reference file(s) "
                           f"{', '.join(f'{n} ({s[:16]}…)' for s, (n, _) in sorted(missing.items()))} "
                           "cannot be rebuilt with the bytes the context names (a different calpipe "
                           "build made them); restore them from a backup")
    return sorted(restored)
