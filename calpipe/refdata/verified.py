"""A verified-hash cache for the store's content-addressed files: hash a file once, not every run.

A file under ``<root>/files/`` is named by the sha256 of its bytes and never rewritten. Once its
bytes have been hashed and found to match its name, the file's identity and change times are
recorded in ``<root>/verified.json``: device, inode, size, mtime and ctime (nanoseconds). A later
request whose ``os.stat`` gives exactly those five values is answered from the record; any other
value (a write to the file changes its mtime and ctime, a replacement its inode; ctime cannot be
set back from user space) re-hashes the whole file.

A file changed within the timestamp granularity of its own last change could keep both times, so
a file whose mtime or ctime is less than ``RACY_S`` seconds older than the moment hashing began is
hashed but not recorded (as git treats "racily clean" files): it is re-hashed next time too.

The record only saves work: it is read once per process, written atomically (temporary file and
rename), and when it is unreadable or cannot be written (a read-only or full store) every file is
simply hashed as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from calpipe.core.provenance import sha256_file

RACY_S = 2.0
_NAME = "verified.json"
log = logging.getLogger("calpipe")


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class VerifiedHashes:
    """sha256 of the files in one store's ``files/`` directory, re-hashing only what may have changed."""

    def __init__(self, root: Path):
        self.files_dir = Path(root) / "files"
        self.path = Path(root) / _NAME
        self._records: dict[str, list[int]] | None = None

    def covers(self, path: Path) -> bool:
        """Whether ``path`` is a content-addressed file of this store (its name is a sha256)."""
        path = Path(path)
        return path.parent.resolve() == self.files_dir.resolve() and len(path.stem) == 64

    def sha256(self, path: Path) -> str:
        """The file's sha256: from the record if its stat is the one recorded, else by hashing it."""
        path = Path(path)
        st = os.stat(path)
        name = path.stem
        if self._load().get(name) == _stamp(st):
            return name
        began = time.time_ns()
        digest = sha256_file(path)
        after = os.stat(path)
        newest = max(after.st_mtime_ns, after.st_ctime_ns)
        if digest == name and _stamp(after) == _stamp(st) and began - newest > RACY_S * 1e9:
            self._record(name, _stamp(after))
        return digest

    def _load(self) -> dict[str, list[int]]:
        if self._records is None:
            self._records = self._read()
        return self._records

    def _read(self) -> dict[str, list[int]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 5}

    def _record(self, name: str, stamp: list[int]) -> None:
        records = self._read()  # other processes may have recorded files meanwhile
        records[name] = stamp
        self._records = {**self._load(), **records}
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{_NAME}.", suffix=".part", dir=self.path.parent)
        except OSError as exc:
            log.debug("verified-hash record not written (%s): files are hashed on every run", exc)
            return
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(records, f, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("verified-hash record not written (%s): files are hashed on every run", exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
