"""One archive: its directory (store), its catalog database and the plugins that process it.

Kept apart from cli.py so that ingest, retrieval and tests open an archive the
same way the commands do, without argparse.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calpipe.core.errors import UsageError

from .db import Database, database_url
from .files import MARKER, Store

ARCHIVE_ENV = "CALPIPE_ARCHIVE"


def find_root(given: Path | None) -> Path:
    """--archive DIR, else $CALPIPE_ARCHIVE, else the current directory."""
    if given is not None:
        return Path(given)
    env = os.environ.get(ARCHIVE_ENV)
    return Path(env) if env else Path.cwd()


def now() -> datetime:
    """UTC, naive (as stored); one place, so that tests can stand at any moment."""
    return datetime.now(UTC).replace(tzinfo=None)


def me() -> str:
    """Who claims work: host and process id (a dead claimant's work is taken over on this host)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claimant_alive(claimed_by: str | None) -> bool:
    if not claimed_by:
        return False
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # cannot tell from here: assume it is still working
    return pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class Archive:
    root: Path
    store: Store
    db: Database
    registry: Any
    refdata: Path | None = None
    who: str = "calpipe"

    @classmethod
    def init(cls, root: Path, db_url: str | None = None, registry: Any = None) -> Archive:
        root = Path(root)
        if (root / MARKER).exists():
            raise UsageError(f"{root}: already an archive")
        root.mkdir(parents=True, exist_ok=True)
        db = Database(database_url(root, db_url))
        db.create()
        store = Store.create(root)
        return cls(root, store, db, registry or _installed())

    @classmethod
    def open(cls, root: Path, db_url: str | None = None, registry: Any = None, refdata: Path | None = None,
             check: bool = True) -> Archive:
        store = Store.open(root)
        db = Database(database_url(root, db_url))
        if check:
            db.check()
        return cls(Path(root), store, db, registry or _installed(), refdata)

    def selectors(self) -> dict[str, tuple[str, ...]]:
        """Lower-case instrument -> the header keywords that choose any of its reference files."""
        found: dict[str, dict[str, None]] = {}
        for (instrument, _), rt in sorted(self.registry.reftypes.items()):
            found.setdefault(instrument, {}).update(dict.fromkeys(rt.selectors))
        return {k: tuple(v) for k, v in found.items()}

    def close(self) -> None:
        self.db.dispose()


def _installed() -> Any:
    from calpipe.core.registry import get_registry

    return get_registry()
