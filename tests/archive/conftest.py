"""Archive fixtures: every archive test runs on SQLite and on PostgreSQL (when one is available)."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from calpipe.archive.directory import Archive
from calpipe.instruments.nir.simulate import simulate_dithers
from calpipe.level0.downlink import simulate_downlink

PG_ENV = "CALPIPE_TEST_POSTGRESQL"
HOW = (f"set ${PG_ENV} to a PostgreSQL URL where databases may be created, e.g. by "
       "`. .ci/postgres.sh && pg_throwaway_start` (what .ci/run does)")


def _database(backend: str):
    """A fresh, empty database URL on ``backend`` (None: the archive's own SQLite file); drops it after."""
    if backend == "sqlite":
        yield None
        return
    admin = os.environ.get(PG_ENV)
    if not admin:
        pytest.skip(f"no PostgreSQL for the archive tests: {HOW}")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"calpipe_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    yield from _database(request.param)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(request):
    yield from _database(request.param)


@dataclass(frozen=True)
class Downlink:
    files: list[Path]  # in stream order
    truth: dict
    raws: list[Path]


@pytest.fixture(scope="session")
def nir_downlink(tmp_path_factory) -> Downlink:
    """Two small NIR exposures in three telemetry files; the middle one holds the end of the first
    exposure and the start of the second (the many-to-many case)."""
    root = tmp_path_factory.mktemp("archive_nir")
    sims = simulate_dithers(root / "raw", 2, seed=3, subarray=32, ngroups=5)
    files, truth = simulate_downlink([s.raw for s in sims], root / "tlm", files=3, segment_bytes=1024)
    return Downlink(files, json.loads(truth.read_text()), [s.raw for s in sims])


def new_archive(root: Path, url: str | None, registry=None) -> Archive:
    return Archive.init(root, url, registry)
