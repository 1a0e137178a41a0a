"""The archive's content-addressed file store: every file by the sha256 of its bytes.

Layout of an archive directory::

    ARCHIVE/
      archive.json             marks the directory as an archive (layout version)
      catalog.sqlite           the embedded catalog (+ -wal, -shm); absent with --db postgresql://...
      store/ab/abcdef....      each telemetry file, raw product and product version, named by its
                               sha256 (first two hex digits as a fan-out directory), mode 0444
      store/.tmp/              files being written (same file system: the rename is atomic)
      work/                    scratch directories of running pipelines; safe to empty when idle

A file is written to store/.tmp, fsynced, renamed to its address and its
directory fsynced, and only then registered in the catalog: the catalog never
names a file that is not wholly on disk. Files are made read-only and are never
deleted or overwritten (the same bytes have the same address: storing them twice
is a no-op). Every read checks the bytes against the address (exit 4, naming
the file, when they differ).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from calpipe.core.errors import RefDataError, UsageError

LAYOUT_VERSION = 1
MARKER = "archive.json"
_CHUNK = 1 << 20


class StoreError(RefDataError):
    """A stored file is missing or its bytes no longer match its address (exit 4)."""


class Store:
    """The store of one archive directory."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.objects = self.root / "store"
        self.tmp = self.objects / ".tmp"

    @classmethod
    def create(cls, root: Path) -> Store:
        root = Path(root)
        marker = root / MARKER
        if marker.exists():
            raise UsageError(f"{root}: already an archive ({MARKER} exists)")
        store = cls(root)
        store.tmp.mkdir(parents=True, exist_ok=True)
        (root / "work").mkdir(exist_ok=True)
        _write_text(marker, json.dumps({"calpipe_archive": LAYOUT_VERSION}) + "\n")
        return store

    @classmethod
    def open(cls, root: Path) -> Store:
        marker = Path(root) / MARKER
        try:
            layout = json.loads(marker.read_text())["calpipe_archive"]
        except FileNotFoundError:
            raise UsageError(f"{root}: not an archive (no {MARKER}); make one with `calpipe archive init "
                             "DIR`, or name it with --archive DIR or $CALPIPE_ARCHIVE") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{marker}: not an archive marker ({exc})") from None
        if layout != LAYOUT_VERSION:
            raise UsageError(f"{root}: archive layout {layout}, this calpipe knows {LAYOUT_VERSION}")
        return cls(root)

    def path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256

    def relative(self, sha256: str) -> str:
        """The path in the catalog: relative to the archive, so the directory can move."""
        return str(self.path(sha256).relative_to(self.root))

    def put(self, source: Path) -> str:
        """Copy ``source`` in (atomically); returns its sha256. Storing the same bytes again is a no-op."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=f"{os.getpid()}.")
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            sha = digest.hexdigest()
            target = self.path(sha)
            if target.exists():
                os.unlink(tmp)
                return sha
            target.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
            return sha
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def check(self, sha256: str) -> Path:
        """The stored file, after checking its bytes still hash to its address."""
        path = self.path(sha256)
        if not path.is_file():
            raise StoreError(f"{path}: stored file missing (sha256 {sha256}); restore it from a backup")
        actual = sha256_of(path)
        if actual != sha256:
            raise StoreError(f"{path}: stored bytes no longer match their sha256 (now {actual[:16]}…); "
                             "the file is damaged: restore it from a backup")
        return path

    def copy_out(self, sha256: str, target: Path) -> Path:
        """Hash-check and copy a stored file to ``target`` (written atomically, writable)."""
        source = self.check(sha256)
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target

    def work_dir(self) -> tempfile.TemporaryDirectory:
        (self.root / "work").mkdir(exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.root / "work", prefix=f"{os.getpid()}.")

    def sweep(self, alive) -> list[Path]:
        """Remove the temporary files and work directories of processes that died (``alive(pid)``)."""
        removed = []
        for path in [*self.tmp.glob("*"), *(self.root / "work").glob("*")]:
            pid = path.name.split(".", 1)[0]
            if pid.isdigit() and not alive(int(pid)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def addresses(self) -> set[str]:
        """Every sha256 stored."""
        return {p.name for p in self.objects.glob("??/*") if p.is_file()}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
