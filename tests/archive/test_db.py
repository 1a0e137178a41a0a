"""The catalog database: schema made and checked by the shipped migrations, SQLite settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from calpipe.archive.db import Database, database_url
from calpipe.archive.directory import Archive
from calpipe.core.errors import UsageError


def _url(tmp_path, db_url):
    return database_url(tmp_path, db_url)


def test_the_migrations_make_exactly_the_tables_the_code_declares(tmp_path, db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from calpipe.archive.tables import Base

    db = Database(_url(tmp_path, db_url))
    db.create()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert db.revisions()[0] == db.revisions()[1]


def test_a_newer_schema_is_refused_naming_the_fix(tmp_path, db_url):
    db = Database(_url(tmp_path, db_url))
    db.create()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UsageError, match="newer calpipe"):
        db.check()
    with pytest.raises(UsageError, match="newer calpipe"):
        db.upgrade()


def test_an_older_schema_is_refused_until_upgraded_and_keeps_its_rows(tmp_path, db_url):
    from alembic import command

    db = Database(_url(tmp_path, db_url))
    config = db._alembic()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO exposure (tag, state, updated_at) VALUES ('1:1:1', 'incomplete', "
                          "'2026-01-01 00:00:00')"))
    with pytest.raises(UsageError, match="calpipe archive upgrade"):
        db.check()
    assert db.upgrade() == ("0001", db.revisions()[1])
    db.check()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT tag, claimed_by FROM exposure")).all() == [("1:1:1", None)]


def test_no_catalog_says_how_to_make_one(tmp_path, db_url):
    with pytest.raises(UsageError, match="calpipe archive init"):
        Database(_url(tmp_path, db_url)).check()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_immediate_writes(tmp_path):
    archive = Archive.init(tmp_path / "a")
    with archive.db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
    statements = []
    from sqlalchemy import event

    event.listen(archive.db.engine, "before_cursor_execute",
                 lambda conn, cursor, stmt, *a: statements.append(stmt))
    with archive.db.write() as session:
        session.execute(text("SELECT 1"))
    with archive.db.read() as session:
        session.execute(text("SELECT 1"))
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_a_database_url_that_is_not_one_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a database URL"):
        database_url(tmp_path, "no such thing")
    with pytest.raises(UsageError, match="SQLite or PostgreSQL"):
        database_url(tmp_path, "mysql://x@y/z")
