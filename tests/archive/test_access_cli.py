"""Accounts, programs and grants through `calpipe archive ...`; bad input; every data path asks the policy;
the access migration from an empty catalog and from the previous revision."""

from __future__ import annotations

import ast
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from calpipe.archive import access
from calpipe.archive.access import DATA_PATHS, Principal, Refused
from calpipe.archive.db import Database, database_url
from calpipe.archive.retrieve import get, get_manifest
from calpipe.archive.tables import SANDBOX, Account, Audit, Product
from calpipe.core.cli.calpipe import main as calpipe

from .conftest import new_archive

T0 = datetime(2031, 1, 31, 8, 0, 0)


def _cli(archive, *args):
    db = ["--db", archive.db.url] if archive.db.backend != "sqlite" else []
    return calpipe(["archive", *args, "--archive", str(archive.root), *db])


@pytest.fixture
def archive(db_url, tmp_path):
    archive = new_archive(tmp_path / "archive", db_url)
    yield archive
    archive.close()


def _stored(archive, tmp_path: Path, obs: str, program: str | None, at: datetime) -> Product:
    data = tmp_path / f"{obs}_cal.fits"
    data.write_bytes(hashlib.sha256(obs.encode()).digest() * 32)
    sha = archive.store.put(data)
    with archive.db.write() as session:
        row = Product(obs_id=obs, filename=data.name, calib_level=2, proposal_id=program, sha256=sha,
                      state=SANDBOX, made_at=at)
        session.add(row)
        session.flush()
        access.stamp(session, row, at)
    return row


def test_accounts_programs_and_grants_by_the_commands(archive, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALPIPE_ARCHIVE_PASSWORD", "correct horse")
    assert _cli(archive, "program", "add", "PX", "--pi", "alice", "--months", "6") == 0  # PI before account
    assert _cli(archive, "account", "add", "alice", "--email", "alice@example.org") == 0
    assert _cli(archive, "account", "add", "bob") == 0
    assert _cli(archive, "account", "add", "bob") == 2  # exists already
    capsys.readouterr()
    assert _cli(archive, "account", "token", "bob", "--days", "10") == 0
    bob = capsys.readouterr().out.strip()
    assert bob.startswith("cpa_") and len(bob) == 47
    product = _stored(archive, tmp_path, "px_obs", "PX", datetime.now().replace(microsecond=0))
    out = tmp_path / "got"
    # bob is no member of PX: refused, saying only that
    assert _cli(archive, "get", "px_obs", "-o", str(out), "--token", bob) == 2
    assert capsys.readouterr().err.strip().endswith("refused")
    # alice (the PI, by password) may read it, and grant it to bob
    assert _cli(archive, "get", "px_obs", "-o", str(out), "--account", "alice") == 0
    assert (out / product.filename).read_bytes() == (tmp_path / product.filename).read_bytes()
    # bob cannot grant himself PX (he is not its PI)
    assert _cli(archive, "program", "grant", "PX", "bob", "--token", bob) == 2
    assert _cli(archive, "program", "grant", "PX", "bob", "--account", "alice") == 0
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "bob"), "--token", bob) == 0
    assert _cli(archive, "program", "revoke", "PX", "bob", "--account", "alice") == 0
    monkeypatch.setenv("CALPIPE_ARCHIVE_PASSWORD", "battery staple")
    assert _cli(archive, "account", "passwd", "alice") == 0
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "new"), "--account", "alice") == 0
    monkeypatch.setenv("CALPIPE_ARCHIVE_PASSWORD", "correct horse")  # the old one no longer works
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "old"), "--account", "alice") == 2
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "bob2"), "--token", bob) == 2
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "anon"), "--anonymous") == 2
    # a disabled account's token stops working; a revoked token too
    capsys.readouterr()
    assert _cli(archive, "account", "token", "alice") == 0
    alice = capsys.readouterr().out.strip()
    assert _cli(archive, "account", "token", "--revoke", alice) == 0
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "a2"), "--token", alice) == 2
    assert _cli(archive, "account", "disable", "alice") == 0
    assert _cli(archive, "get", "px_obs", "-o", str(tmp_path / "a3"), "--account", "alice") == 2
    capsys.readouterr()
    assert _cli(archive, "account", "list") == 0
    listing = capsys.readouterr().out
    assert "alice" in listing and "DISABLED" in listing and "PI of: PX" in listing
    assert _cli(archive, "program", "show", "PX") == 0
    assert "exclusive access 6 months" in capsys.readouterr().out
    with archive.db.read() as session:
        hashes = [a.password_hash for a in session.scalars(select(Account))]
        refused = session.scalars(select(Audit).where(Audit.outcome == "refused")).all()
    assert all(h.startswith("$argon2id$") for h in hashes)
    # refused by the policy: bob twice, anonymous once (alice's revoked token and disabled login fail earlier)
    assert [(r.account, r.obs_id) for r in refused] == [("bob", "px_obs"), ("bob", "px_obs"), (None, "px_obs")]


@pytest.mark.parametrize("months", ["-1", "121", "100000"])
def test_negative_or_absurd_periods_are_refused(archive, months, capsys):
    assert _cli(archive, "program", "add", "PB", "--months", months) == 2
    assert "--months" in capsys.readouterr().err
    with archive.db.read() as session:
        assert session.get(access.Program, "PB") is None


@pytest.mark.parametrize("obs", ["../etc/passwd", "/etc/passwd", "a/../../b", "..", "x/y"])
def test_product_ids_that_are_paths_are_refused(archive, tmp_path, obs, capsys):
    assert _cli(archive, "get", obs, "-o", str(tmp_path / "out")) == 3
    assert "not an observation id" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_wrong_passwords_lock_the_account_for_a_doubling_while(archive):
    with archive.db.write() as session:
        access.add_account(session, "carol", "right-password", T0)
    times = [T0 + timedelta(seconds=i) for i in range(access.LOCK_AFTER)]
    for at in times:
        with pytest.raises(Refused):
            access.authenticate(archive.db, at, name="carol", password="wrong-password")
    locked = times[-1] + timedelta(seconds=1)
    with pytest.raises(Refused):  # the right password, but locked
        access.authenticate(archive.db, locked, name="carol", password="right-password")
    after = times[-1] + access.LOCK_BASE + timedelta(seconds=1)
    assert access.authenticate(archive.db, after, name="carol", password="right-password").name == "carol"
    with archive.db.read() as session:
        failed = session.scalars(select(Audit).where(Audit.outcome == "login-failed")).all()
    assert len(failed) == access.LOCK_AFTER + 1


@pytest.mark.parametrize("token", ["", "cpa_", "cpa_" + "A" * 42, "cpa_" + "A" * 44, "Bearer x", "cpa_" + "é" * 43])
def test_malformed_tokens_are_refused(archive, token):
    with pytest.raises(Refused):
        access.authenticate(archive.db, T0, token=token)


def test_expired_token_is_refused_a_second_after_expiry(archive):
    with archive.db.write() as session:
        owner = access.add_account(session, "dan", None, T0)
        token = access.new_token(session, owner, T0, days=1)
    assert access.authenticate(archive.db, T0 + timedelta(days=1, seconds=-1), token=token).name == "dan"
    with pytest.raises(Refused):
        access.authenticate(archive.db, T0 + timedelta(days=1), token=token)


def test_grant_by_someone_not_the_pi_is_refused(archive):
    with archive.db.write() as session:
        for name in ("pi", "other", "third"):
            access.add_account(session, name, None, T0)
        access.add_program(session, Principal.local_operator(), "PG", "pi", 12, T0)
        other = Principal.of(access.account(session, "other"))
        with pytest.raises(Refused):
            access.grant(session, other, "PG", "third", T0)
        with pytest.raises(Refused):  # nor may a non-operator add programs
            access.add_program(session, other, "PH", "other", 0, T0)


def test_release_month_arithmetic_clamps_to_the_months_last_day():
    assert access.add_months(datetime(2031, 1, 31, 8), 1) == datetime(2031, 2, 28, 8)
    assert access.add_months(datetime(2032, 1, 31, 8), 1) == datetime(2032, 2, 29, 8)
    assert access.add_months(datetime(2031, 11, 15), 14) == datetime(2033, 1, 15)
    assert access.add_months(datetime(2031, 5, 5), 0) == datetime(2031, 5, 5)


def test_changing_a_programs_period_moves_its_release_dates(archive, tmp_path):
    row = _stored(archive, tmp_path, "late_obs", "PL", T0)  # archived before the program was known
    with archive.db.read() as session:
        assert session.get(Product, row.id).release_at == access.add_months(T0, 12)
    with archive.db.write() as session:
        access.add_program(session, Principal.local_operator(), "PL", None, 0, T0)
    with archive.db.read() as session:
        assert session.get(Product, row.id).release_at == T0


# -- every data path asks the policy -----------------------------------------------------------
INTERNAL = {  # functions that read stored files for the archive's own work, never for a requester
    ("ingest", "make"), ("ingest", "_extract"), ("ingest", "process"), ("ingest", "recover"),
    ("catalog", "verify"), ("retrieve", "_remade"),
    ("bulk", "execute"), ("bulk", "_published"),  # a bulk job reads its input and checks its own result
}
READS = {"copy_out", "check", "path", "open"}


def _store_readers():
    """(module, function) of every function in calpipe/archive that reads a stored file."""
    found = set()
    for path in Path(access.__file__).parent.rglob("*.py"):
        if path.name == "files.py" or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in READS and isinstance(node.func.value, ast.Attribute)
                        and node.func.value.attr == "store"):
                    found.add((path.stem, fn.name))
    return found


def test_every_function_reading_the_store_is_a_registered_data_path_or_internal():
    registered = {(fn.__module__.rsplit(".", 1)[-1], fn.__name__) for fn in DATA_PATHS.values()}
    assert registered >= {("retrieve", "get"), ("retrieve", "get_manifest")}
    unaccounted = _store_readers() - registered - INTERNAL
    assert not unaccounted, f"serve data only through access.data_path + access.require: {unaccounted}"


def test_every_registered_data_path_calls_require():
    import inspect as pyinspect

    for name, fn in DATA_PATHS.items():
        assert "access.require(" in pyinspect.getsource(fn), f"data path {name} does not ask the policy"


def test_every_registered_data_path_refuses_the_public_before_release(archive, tmp_path):
    row = _stored(archive, tmp_path, "secret_obs", "PS", datetime.now())
    calls = {"get": lambda out: get(archive, "secret_obs", out, who=Principal.anonymous()),
             "get-manifest": lambda out: get_manifest(archive, {"products": [
                 {"obs_id": "secret_obs", "sha256": row.sha256}]}, out, who=Principal.anonymous())}
    assert set(calls) == set(DATA_PATHS)
    for name, call in calls.items():
        with pytest.raises(Refused):
            call(tmp_path / name)
        assert not (tmp_path / name).exists(), name


def test_manifest_downloads_its_products(archive, tmp_path, capsys):
    rows = [_stored(archive, tmp_path, f"m_obs{i}", None, datetime(2020, 1, 1)) for i in range(2)]  # public
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"products": [{"obs_id": r.obs_id, "sha256": r.sha256} for r in rows]}))
    assert _cli(archive, "get", "--manifest", str(manifest), "-o", str(tmp_path / "out"), "--anonymous") == 0
    for r in rows:
        assert (tmp_path / "out" / r.filename).read_bytes() == (tmp_path / r.filename).read_bytes()
    manifest.write_text(json.dumps({"products": [{"obs_id": "m_obs0", "sha256": "0" * 64}]}))
    assert _cli(archive, "get", "--manifest", str(manifest), "-o", str(tmp_path / "o2"), "--anonymous") == 2


# -- the migration -----------------------------------------------------------------------------
def test_access_migration_from_empty_and_from_the_previous_revision(db_url, tmp_path):
    from alembic import command

    db = Database(database_url(tmp_path, db_url))
    config = db._alembic()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO product (filename, pipeline, pipeline_version, context, state, made_at, "
                             "calib_level, obs_id) VALUES ('a.fits', '', '', '', 'raw', '2030-01-01', 1, 'a')")
    assert db.revisions()[0] == "0002"
    db.upgrade()
    current, head = db.revisions()
    assert current == head
    tables = set(inspect(db.engine).get_table_names())
    assert {"account", "api_token", "program", "program_grant", "audit", "event", "subscription",
            "delivery", "product_member"} <= tables
    with db.read() as session:
        assert session.scalar(select(Product.obs_id)) == "a"
    db.dispose()
    fresh = Database(database_url(tmp_path / "fresh", None)) if db_url is None else None
    if fresh is not None:
        (tmp_path / "fresh").mkdir()
        fresh.create()
        assert fresh.revisions()[0] == head
        fresh.dispose()
