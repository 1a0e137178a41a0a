"""The access policy as a security system: hypothesis over accounts x programs x products x times.

A small world of programs, accounts, tokens and stored products; each example
sets grants and disabled accounts, stands at a critical moment (a second
before or after a release date or a token's expiry) and asks through the real
data path (``retrieve.get``) or, for Level 3, the policy function itself. The
expected answer comes from the rules written out independently below (release
= first archived + months, computed for days <= 28 without any calendar
clamping), never from calpipe's code. 0 leaks and 0 wrong refusals.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from calpipe.archive import access
from calpipe.archive.access import Principal, Refused
from calpipe.archive.retrieve import get
from calpipe.archive.tables import SANDBOX, Account, Audit, Grant, Product, Token, product_member

from .conftest import new_archive

T0 = datetime(2030, 3, 10, 12, 0, 0)
PROGRAMS = {"P1": ("pi1", 12), "P2": ("pi2", 3), "P3": (None, 0)}  # P3: calibration, PI without account
ACCOUNTS = ("pi1", "pi2", "guest", "ops")
# obs -> (program, first archived); days <= 28 so the expected release needs no calendar clamping
OBS = {"obs_a": ("P1", T0), "obs_b": ("P1", T0 + timedelta(days=40, hours=3)), "obs_c": ("P2", T0),
       "obs_d": ("P3", T0 + timedelta(days=1)), "obs_e": (None, T0 + timedelta(days=2))}
TOKEN_EXPIRY = T0 + timedelta(days=200)


def expected_release(first: datetime, months: int) -> datetime:
    years, month = divmod(first.month - 1 + months, 12)
    return first.replace(year=first.year + years, month=month + 1)


def months(program):
    return PROGRAMS[program][1] if program in PROGRAMS else 12  # unknown programs: 12 months


RELEASE = {obs: expected_release(first, months(program)) for obs, (program, first) in OBS.items()}


@dataclass
class World:
    archive: object
    tokens: dict  # (account, kind) -> token; kinds: valid, expiring, revoked
    ids: dict  # obs -> product id
    l3: int  # a Level 3 product of obs_a (P1) and obs_c (P2)


@pytest.fixture(scope="module")
def world(module_db_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("access_world")
    archive = new_archive(root / "archive", module_db_url)
    ids, tokens = {}, {}
    with archive.db.write() as session:
        for name in ACCOUNTS:
            access.add_account(session, name, f"password-of-{name}", T0, email=f"{name}@example.org",
                               operator=name == "ops")
        for program, (pi, m) in PROGRAMS.items():
            access.add_program(session, Principal.local_operator(), program, pi, m, T0)
        for name in ACCOUNTS:
            owner = access.account(session, name)
            tokens[name, "valid"] = access.new_token(session, owner, T0, days=3000)
            tokens[name, "revoked"] = access.new_token(session, owner, T0, days=3000)
            tokens[name, "expiring"] = access.new_token(session, owner, T0, days=200)
        session.flush()
        for name in ACCOUNTS:
            access.revoke_token(session, tokens[name, "revoked"], T0)
    for obs, (program, first) in OBS.items():
        ids[obs] = _product(archive, root, obs, program, first, level=2)
    l3 = _product(archive, root, "mosaic_ac", None, T0, level=3)
    with archive.db.write() as session:
        session.execute(insert(product_member), [{"product_id": l3, "member_id": ids["obs_a"]},
                                                 {"product_id": l3, "member_id": ids["obs_c"]}])
    yield World(archive, tokens, ids, l3)
    archive.close()


def _product(archive, root: Path, obs: str, program: str | None, first: datetime, level: int) -> int:
    data = root / f"{obs}_l{level}.fits"
    data.write_bytes(hashlib.sha256(obs.encode()).digest() * 64)
    sha = archive.store.put(data)
    with archive.db.write() as session:
        row = Product(obs_id=obs, filename=data.name, calib_level=level, proposal_id=program, sha256=sha,
                      state=SANDBOX, made_at=first)
        session.add(row)
        session.flush()
        access.stamp(session, row, first)
        return row.id


def test_release_dates_are_first_archived_plus_the_programs_months(world):
    with world.archive.db.read() as session:
        stored = {obs: session.get(Product, pid).release_at for obs, pid in world.ids.items()}
    assert stored == RELEASE


CRITICAL = sorted({t + d for t in (*RELEASE.values(), TOKEN_EXPIRY)
                   for d in (timedelta(seconds=-1), timedelta(0), timedelta(seconds=1))})
CREDENTIALS = st.one_of(st.just(("anonymous", None)),
                        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(("valid", "revoked", "expiring"))))
GRANTS = st.sets(st.tuples(st.sampled_from(sorted(PROGRAMS)), st.sampled_from(ACCOUNTS)), max_size=4)


def _entitled(name, program, grants, disabled) -> bool:
    if name is None or name in disabled:
        return False
    if name == "ops":
        return True
    if program not in PROGRAMS:
        return False
    return PROGRAMS[program][0] == name or (program, name) in grants


def _authenticated(cred, at, disabled):
    name, kind = cred
    if name == "anonymous":
        return "anonymous"
    if kind == "revoked" or name in disabled or (kind == "expiring" and at >= TOKEN_EXPIRY):
        return None  # the login itself is refused
    return name


def expected(parts, cred, at, grants, disabled) -> str:
    """'served' or 'refused', from the rules alone."""
    who = _authenticated(cred, at, disabled)
    if who is None:
        return "refused"
    name = None if who == "anonymous" else who
    if name == "ops":
        return "served"
    ok = all(at >= RELEASE[obs] or _entitled(name, OBS[obs][0], grants, disabled) for obs in parts)
    return "served" if ok else "refused"


def _set_state(archive, grants, disabled) -> None:
    with archive.db.write() as session:
        session.execute(delete(Grant))
        for program, name in sorted(grants):
            session.add(Grant(program_id=program, account_id=access.account(session, name).id,
                              granted_by="ops", granted_at=T0))
        for a in session.scalars(select(Account)):
            a.disabled = a.name in disabled


def _ask(world, cred, at, obs=None) -> str:
    archive = world.archive
    archive.clock = lambda: at
    try:
        who = (Principal.anonymous() if cred[0] == "anonymous"
               else access.authenticate(archive.db, at, token=world.tokens[cred]))
        if obs is None:  # Level 3: the policy function itself (no data path serves Level 3 yet)
            with archive.db.read() as session:
                return "served" if access.decide(session, who, session.get(Product, world.l3), at).allowed \
                    else "refused"
        with tempfile.TemporaryDirectory() as out:
            path, _, _ = get(archive, obs, Path(out), who=who)
            assert path.read_bytes() == hashlib.sha256(obs.encode()).digest() * 64
        return "served"
    except Refused as exc:
        assert str(exc) == "refused"
        return "refused"


def _principal(world, cred, at):
    if cred[0] == "anonymous":
        return Principal.anonymous()
    try:
        return access.authenticate(world.archive.db, at, token=world.tokens[cred])
    except Refused:
        return None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cred=CREDENTIALS, grants=GRANTS, disabled=st.sets(st.sampled_from(ACCOUNTS), max_size=2))
def test_the_policy_leaks_nothing_at_any_critical_moment(world, cred, grants, disabled):
    """Every product at every critical second, for the drawn credential, grants and disabled accounts."""
    _set_state(world.archive, grants, disabled)
    leaks, wrong = [], []
    for at in CRITICAL:
        who = _principal(world, cred, at)
        with world.archive.db.read() as session:
            for obs, pid in world.ids.items():
                got = who is not None and access.decide(session, who, session.get(Product, pid), at).allowed
                want = expected([obs], cred, at, grants, disabled) == "served"
                (leaks if got and not want else wrong if want and not got else []).append((obs, at))
    assert leaks == [], f"LEAK for {cred}"
    assert wrong == [], f"wrongly refused for {cred}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cred=CREDENTIALS, at=st.sampled_from(CRITICAL), obs=st.sampled_from(sorted(OBS)), grants=GRANTS,
       disabled=st.sets(st.sampled_from(ACCOUNTS), max_size=2))
def test_no_leak_and_no_wrong_refusal_through_get(world, cred, at, obs, grants, disabled):
    _set_state(world.archive, grants, disabled)
    want = expected([obs], cred, at, grants, disabled)
    got = _ask(world, cred, at, obs)
    assert not (got == "served" and want == "refused"), f"LEAK: {cred} read {obs} at {at}"
    assert got == want, f"{cred} refused {obs} at {at} though entitled"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cred=CREDENTIALS, grants=GRANTS)
def test_level3_released_only_when_all_members_are(world, cred, grants):
    _set_state(world.archive, grants, set())
    leaks, wrong = [], []
    for at in CRITICAL:
        got = _ask(world, cred, at) == "served"
        want = expected(["obs_a", "obs_c"], cred, at, grants, set()) == "served"
        (leaks if got and not want else wrong if want and not got else []).append(at)
    assert leaks == [], f"LEAK: {cred} read the mosaic"
    assert wrong == [], f"{cred} wrongly refused the mosaic"


def test_every_download_and_refusal_is_audited(world):
    _set_state(world.archive, set(), set())
    before_release = RELEASE["obs_c"] - timedelta(seconds=1)
    with world.archive.db.read() as session:
        start = session.scalar(select(Audit.id).order_by(Audit.id.desc()).limit(1)) or 0
    assert _ask(world, ("guest", "valid"), before_release, "obs_c") == "refused"
    assert _ask(world, ("pi2", "valid"), before_release, "obs_c") == "served"
    assert _ask(world, ("guest", "revoked"), before_release, "obs_c") == "refused"
    with world.archive.db.read() as session:
        rows = session.scalars(select(Audit).where(Audit.id > start).order_by(Audit.id)).all()
    assert [(r.account, r.obs_id, r.path, r.outcome) for r in rows] == [
        ("guest", "obs_c", "get", "refused"), ("pi2", "obs_c", "get", "served"),
        (None, None, "login", "login-failed")]
    assert all(r.at == before_release for r in rows)


def test_refusal_says_the_same_for_missing_exclusive_and_bad_token(world):
    at = T0 + timedelta(days=1)
    world.archive.clock = lambda: at
    messages = []
    for call in (lambda: access.authenticate(world.archive.db, at, token="cpa_" + "x" * 43),
                 lambda: access.authenticate(world.archive.db, at, token="not a token"),
                 lambda: access.authenticate(world.archive.db, at, name="nobody", password="whatever1"),
                 lambda: access.authenticate(world.archive.db, at, name="pi1", password="wrong-one"),
                 lambda: get(world.archive, "obs_a", Path(tempfile.mkdtemp()), who=Principal.anonymous())):
        with pytest.raises(Refused) as info:
            call()
        messages.append(str(info.value))
    assert messages == ["refused"] * 5


def test_tokens_are_stored_hashed(world):
    with world.archive.db.read() as session:
        digests = set(session.scalars(select(Token.digest)))
    assert not digests & set(world.tokens.values())
    assert {hashlib.sha256(t.encode()).hexdigest() for t in world.tokens.values()} == digests
