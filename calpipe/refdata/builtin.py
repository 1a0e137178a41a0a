"""Built-in reference contexts: made offline by the plugins' deterministic builders.

Plugins declare reference sets with the built-in context number they first
appear in (demo 1, nir 2, ...); built-in context k holds every set numbered
up to k. They are installed on first use (or by `calpipe refdata init`) under
the store lock, from a private staging list, so concurrent first runs and a
user's own staged files never mix. Their numbers (< 1000) never collide with
locally published contexts, so a pipeline's ``refdata: N`` means the same
files in every store.

How the two histories combine: the newest context must cover every
(instrument, reftype) that any earlier context covered, or "the latest
context" would lose instruments. Local contexts are published on top of the
latest context of either kind, so they start with every built-in set installed
then. When a built-in context arrives later (an instrument first used, or a
plugin installed after local publishes), the latest local context is rebased
on it at once, as a new local context: each reference type the local history
never changed (its rules are those of a built-in context) takes the new
built-in rules, each type only the built-in has is added, and each type the
user published stays as the user published it. Rebasing rather than numbering
built-ins above the local ones keeps ``refdata: N`` stable in every store, and
rebasing at once (not at selection time) keeps every context a fixed,
published document that provenance can name.
"""

from __future__ import annotations

import logging
import tempfile
from itertools import groupby
from pathlib import Path
from typing import Any

from calpipe.core.io import write_atomic

from .context import Context, RefTypeRules
from .store import FIRST_LOCAL, Store

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
    """Publish the built-in contexts (up to number ``upto``) the store lacks; returns the new ones.

    If local contexts exist, the latest one is then rebased on the newest built-in (see above).
    """
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
        if published:
            rebased = rebase_local(store, published[-1])
            published += [rebased] if rebased else []
            log.info("reference store %s now holds %s (`calpipe refdata du` for details; "
                     "--refdata DIR or $CALPIPE_REFDATA puts it elsewhere)", store.root,
                     megabytes(store.usage()["total"]))
    return published


def megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def missing(store: Store, registry: Any) -> list[int]:
    """Built-in contexts the installed plugins define that the store does not have yet."""
    existing = set(store.context_numbers())
    return sorted({rs.context for rs in registry.refsets()} - existing)


def rebase_local(store: Store, builtin: Context) -> Context | None:
    """Publish the latest local context rebased on ``builtin``, if that changes anything.

    The caller holds the store lock.
    """
    numbers = store.context_numbers()
    local = [n for n in numbers if n >= FIRST_LOCAL]
    if not local:
        return None
    latest = store.load(local[-1])
    builtin_rules = [{k: frozenset(t.rules) for k, t in store.load(n).types.items()}
                     for n in numbers if n < FIRST_LOCAL]
    types = {k: RefTypeRules(t.selectors, list(t.rules)) for k, t in latest.types.items()}
    taken = []
    for key, t in builtin.types.items():
        mine = latest.types.get(key)
        untouched = mine is None or any(rules.get(key) == frozenset(mine.rules) for rules in builtin_rules)
        if untouched and (mine is None or set(mine.rules) != set(t.rules)):
            types[key] = RefTypeRules(t.selectors, list(t.rules))
            taken.append("/".join(key))
    if not taken:
        return None
    context = store.write_context(
        local[-1] + 1, latest, types, f"context {latest.name} rebased on built-in context "
        f"{builtin.name}: {', '.join(sorted(taken))} from the built-in set", "calpipe refdata init")
    log.info("reference store %s: published context %s (%s)", store.root, context.name, context.rationale)
    return context
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
