"""The catalog database: one engine per archive, its sessions, and its schema version.

Embedded default: the SQLite file ``catalog.sqlite`` in the archive directory, in
WAL mode (readers never wait for the writer) with a busy timeout, and every write
transaction opened with ``BEGIN IMMEDIATE`` so that two processes ingesting at
once queue for the write lock instead of failing half-way with "database is
locked". To scale: a PostgreSQL URL (``postgresql+psycopg://...``) given with
``--db`` or ``$CALPIPE_ARCHIVE_DB``; the same code runs on both.

The schema is managed by Alembic; the migrations ship inside the package
(calpipe/archive/migrations). A database made by a newer calpipe is refused, an
older one is refused until ``calpipe archive upgrade`` migrates it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from calpipe.core.errors import UsageError

DB_ENV = "CALPIPE_ARCHIVE_DB"
SQLITE_NAME = "catalog.sqlite"
BUSY_TIMEOUT_MS = 60_000  # a writer waits this long for another process's write transaction
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(root: Path, url: str | None = None) -> str:
    """``url`` (--db), else $CALPIPE_ARCHIVE_DB, else the SQLite file in the archive directory."""
    url = url or os.environ.get(DB_ENV)
    if not url:
        return f"sqlite:///{Path(root).resolve() / SQLITE_NAME}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"--db {url!r}: not a database URL ({exc}); e.g. "
                         "postgresql+psycopg://user@host/dbname or sqlite:///path/catalog.sqlite") from None
    if parsed.drivername == "postgresql":  # psycopg 3, not the psycopg2 SQLAlchemy would pick
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UsageError(f"--db: the archive runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not pysqlite, says when transactions begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last checkpoint
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # a writer takes the write lock up front: no deadlock between two readers turned writers
        write = connection.get_execution_options().get("archive_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """An archive's catalog: ``read()`` and ``write()`` sessions, each one transaction."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(archive_write=True), expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ------------------------------------------------------------------------
    def _alembic(self):
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        return config

    def revisions(self) -> tuple[str | None, str]:
        """(the database's schema revision, the newest this calpipe knows)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, head

    def create(self) -> None:
        """Make the schema of a new, empty database (at the newest revision)."""
        current, _ = self.revisions()
        if current is not None:
            raise UsageError(f"{self.where()}: already holds an archive catalog (schema {current})")
        self.upgrade()

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest schema; returns (from, to)."""
        from alembic import command

        current, head = self.revisions()
        self._refuse_newer(current)
        config = self._alembic()
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return current, head

    def check(self) -> None:
        """Refuse a database of another schema than this calpipe's, saying what to do."""
        current, head = self.revisions()
        if current is None:
            raise UsageError(f"{self.where()}: no archive catalog here (run `calpipe archive init DIR`, "
                             "with --db URL for PostgreSQL)")
        self._refuse_newer(current)
        if current != head:
            raise UsageError(f"{self.where()}: the catalog has schema {current}, older than this calpipe's "
                             f"{head}; run `calpipe archive upgrade` (back up the database first)")

    def _refuse_newer(self, current: str | None) -> None:
        from alembic.script import ScriptDirectory

        known = {s.revision for s in ScriptDirectory.from_config(self._alembic()).walk_revisions()}
        if current is not None and current not in known:
            raise UsageError(f"{self.where()}: the catalog has schema {current}, made by a newer calpipe "
                             "than this one; install that calpipe (or newer) to use this archive")

    def where(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)
