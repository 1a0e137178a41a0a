"""Accounts, programs, grants and exclusive access: ONE policy function decides every data access.

Metadata (catalog rows, search, history, status) are public at once. Data — any
file of any product, level or version, and whatever is made from it — are for
the program's accounts (its PI, the accounts it is granted to) and operators
until the product's release date, then for everyone, anonymous included. The
release date is kept per product: the observation's first archiving plus the
program's exclusive months (as MAST counts). A product with members (Level 3)
is released only when it and all its members are, and before that only to an
account entitled to every program among them.

:func:`decide` is that function. Every path that serves data registers itself
with :func:`data_path` and calls :func:`require`, which asks :func:`decide`,
writes the audit row, and refuses with only the word "refused" — nothing that
tells whether the product or the account exists. Time comes from ``clock``
(``directory.now`` by default) so that tests stand a second before and after a
release.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calpipe.core.errors import CalpipeError, InputDataError, UsageError

from .tables import FAILED, PROCESSING, Account, Audit, Grant, Product, Program, Token, product_member

DEFAULT_MONTHS = 12  # JWST's exclusive period; programs unknown to the archive get it
MAX_MONTHS = 120  # longer is a typo, not a policy
TOKEN_PREFIX = "cpa_"
TOKEN_DAYS = 90  # default token lifetime
MAX_TOKEN_DAYS = 3660
LOCK_AFTER = 5  # failed logins before an account is locked for a while
LOCK_BASE = timedelta(seconds=30)  # doubled for each further failure, up to LOCK_MAX
LOCK_MAX = timedelta(hours=1)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
_SAFE_OBS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}")


class Refused(CalpipeError):
    """A data request the policy refused; says nothing more (the audit log holds the reason)."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__("refused")


@dataclass(frozen=True)
class Principal:
    """Who asks: an account (by name) or anonymous (``name`` None); operators see everything."""

    name: str | None = None
    account_id: int | None = None
    operator: bool = False

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def local_operator(cls) -> Principal:
        """Whoever runs the commands on the archive's own database: that is an operator by definition."""
        return cls(name="operator@local", operator=True)

    @classmethod
    def of(cls, account: Account) -> Principal:
        return cls(account.name, account.id, bool(account.operator))


# -- passwords, tokens, login ---------------------------------------------------------------
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


_DUMMY: list[str] = []  # a hash to verify against for unknown accounts: the same time either way


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UsageError("password: at least 8 characters")
    return _hasher().hash(password)


def _digest(token: str) -> str:
    # tokens carry 256 random bits: a fast hash is safe here (argon2 is for low-entropy passwords)
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str, what: str = "account") -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(f"{what} name {name!r}: 1-64 letters, digits, '_', '.', '@' or '-', starting with a "
                         "letter or digit")
    return name


def check_months(months: int) -> int:
    if not 0 <= months <= MAX_MONTHS:
        raise UsageError(f"--months {months}: the exclusive-access period is 0 (public at once) to "
                         f"{MAX_MONTHS} months")
    return months


def check_obs_id(obs_id: str) -> str:
    """An observation id is a name, never a path: no '/', no '..', nothing absolute."""
    if not _SAFE_OBS.fullmatch(obs_id or "") or ".." in obs_id:
        raise InputDataError(f"{obs_id!r} is not an observation id (letters, digits, '_', '.', ':', '+', "
                             "'-'; no paths); find ids with `calpipe archive search`")
    return obs_id


def add_account(session: Session, name: str, password: str | None, at: datetime, email: str | None = None,
                operator: bool = False) -> Account:
    check_name(name)
    if session.scalar(select(Account).where(Account.name == name)) is not None:
        raise UsageError(f"account {name!r} exists already (change it with `calpipe archive account passwd`)")
    account = Account(name=name, email=email, operator=operator, disabled=False, created_at=at,
                      failed_logins=0, password_hash=hash_password(password) if password else None)
    session.add(account)
    session.flush()
    return account


def account(session: Session, name: str) -> Account:
    found = session.scalar(select(Account).where(Account.name == name))
    if found is None:
        raise UsageError(f"no account {name!r} (see `calpipe archive account list`)")
    return found


def new_token(session: Session, account_: Account, at: datetime, days: int = TOKEN_DAYS,
              label: str | None = None) -> str:
    """A new API token for ``account_``; returned once, only its hash is kept."""
    if not 0 < days <= MAX_TOKEN_DAYS:
        raise UsageError(f"--days {days}: a token lives 1 to {MAX_TOKEN_DAYS} days")
    if account_.disabled:
        raise UsageError(f"account {account_.name!r} is disabled: no new tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(Token(account_id=account_.id, digest=_digest(token), label=label, created_at=at,
                      expires_at=at + timedelta(days=days)))
    return token


def revoke_token(session: Session, token: str, at: datetime) -> bool:
    row = session.scalar(select(Token).where(Token.digest == _digest(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = at
    return True


def by_token(session: Session, token: str, at: datetime, path: str = "login") -> Principal | None:
    """The account a token belongs to; None (audited) if malformed, unknown, expired, revoked or disabled."""
    if _TOKEN.fullmatch(token or ""):
        row = session.scalar(select(Token).where(Token.digest == _digest(token)))
        if row is not None and row.revoked_at is None and at < row.expires_at:
            owner = session.get(Account, row.account_id)
            if not owner.disabled:
                return Principal.of(owner)
    session.add(Audit(at=at, account=None, path=path, outcome="login-failed", reason="bad token"))
    return None


def login(session: Session, name: str, password: str, at: datetime, path: str = "login") -> Principal | None:
    """Check a password (None if wrong, audited); after LOCK_AFTER failures the account is locked for a
    doubling while.

    Unknown and known accounts take the same argon2 time and give the same answer.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    found = session.scalar(select(Account).where(Account.name == name))
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(16)))
    ok = False
    try:
        ok = _hasher().verify(found.password_hash if found is not None and found.password_hash
                              else _DUMMY[0], password)
    except (VerificationError, InvalidHashError):
        ok = False
    usable = found is not None and found.password_hash and not found.disabled
    locked = found is not None and found.locked_until is not None and at < found.locked_until
    if ok and usable and not locked:
        found.failed_logins, found.locked_until = 0, None
        return Principal.of(found)
    if found is not None and not locked:
        found.failed_logins += 1
        if found.failed_logins >= LOCK_AFTER:
            found.locked_until = at + min(LOCK_BASE * 2 ** (found.failed_logins - LOCK_AFTER), LOCK_MAX)
    session.add(Audit(at=at, account=name if found is not None else None, path=path, outcome="login-failed",
                      reason="locked" if locked else "bad password or account"))
    return None


# -- programs and grants --------------------------------------------------------------------
def add_program(session: Session, actor: Principal, program_id: str, pi: str | None, months: int,
                at: datetime) -> Program:
    if not actor.operator:
        raise Refused()
    check_name(program_id, "program")
    if pi is not None:
        check_name(pi)
    check_months(months)
    if session.get(Program, program_id) is not None:
        raise UsageError(f"program {program_id!r} exists already (see `calpipe archive program show "
                         f"{program_id}`)")
    program = Program(id=program_id, pi=pi, months=months, created_at=at)
    session.add(program)
    session.flush()
    restamp(session, program_id)
    return program


def _may_manage(session: Session, actor: Principal, program: Program) -> bool:
    return actor.operator or (actor.name is not None and actor.name == program.pi
                              and session.get(Account, actor.account_id) is not None)


def grant(session: Session, actor: Principal, program_id: str, name: str, at: datetime) -> None:
    """Give ``name`` access to the program's exclusive data: by its PI or an operator only."""
    program = session.get(Program, program_id)
    if program is None or not _may_manage(session, actor, program):
        raise Refused()
    target = account(session, name)
    if session.get(Grant, (program_id, target.id)) is None:
        session.add(Grant(program_id=program_id, account_id=target.id, granted_by=actor.name, granted_at=at))


def revoke(session: Session, actor: Principal, program_id: str, name: str) -> bool:
    program = session.get(Program, program_id)
    if program is None or not _may_manage(session, actor, program):
        raise Refused()
    target = account(session, name)
    row = session.get(Grant, (program_id, target.id))
    if row is None:
        return False
    session.delete(row)
    return True


def entitled(session: Session, who: Principal, program_id: str | None) -> bool:
    """May ``who`` read the program's data before their release (PI, grantee, operator)?"""
    if who.operator:
        return True
    if who.account_id is None or program_id is None:
        return False
    program = session.get(Program, program_id)
    if program is None:
        return False
    if program.pi is not None and program.pi == who.name:
        return True
    return session.get(Grant, (program_id, who.account_id)) is not None


# -- release dates --------------------------------------------------------------------------
def add_months(at: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def months_of(session: Session, program_id: str | None) -> int:
    program = session.get(Program, program_id) if program_id else None
    return DEFAULT_MONTHS if program is None else program.months


def first_archived(session: Session, obs_id: str) -> datetime | None:
    return session.scalar(select(func.min(Product.made_at)).where(
        Product.obs_id == obs_id, Product.sha256.is_not(None), Product.state.not_in((PROCESSING, FAILED))))


def stamp(session: Session, product: Product, at: datetime) -> None:
    """Set a newly archived product's release date (and its ObsCore obs_release_date, data_rights)."""
    first = first_archived(session, product.obs_id) or product.made_at
    months = months_of(session, product.proposal_id)
    _set_release(product, add_months(min(first, product.made_at), months), at)


def restamp(session: Session, program_id: str, at: datetime | None = None) -> int:
    """Recompute the release dates of a program's products (its period was set or changed)."""
    rows = session.scalars(select(Product).where(Product.proposal_id == program_id,
                                                 Product.release_at.is_not(None))).all()
    months = months_of(session, program_id)
    for product in rows:
        _set_release(product, add_months(first_archived(session, product.obs_id) or product.made_at, months),
                     at or product.made_at)
    return len(rows)


def _set_release(product: Product, release_at: datetime, at: datetime) -> None:
    product.release_at = release_at
    product.obs_release_date = release_at.strftime("%Y-%m-%dT%H:%M:%S")
    product.data_rights = "public" if at >= release_at else "proprietary"


# -- the policy -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # for the audit log only


def released(product: Product, at: datetime) -> bool:
    return product.release_at is not None and at >= product.release_at


def decide(session: Session, who: Principal, product: Product, at: datetime) -> Decision:
    """THE access policy: may ``who`` read the data of ``product`` at ``at``?"""
    if product.sha256 is None or product.state in (PROCESSING, FAILED):
        return Decision(False, "no stored file")
    if who.account_id is not None:
        owner = session.get(Account, who.account_id)
        if owner is None or owner.disabled:
            return Decision(False, "account disabled")
    if who.operator:
        return Decision(True, "operator")
    members = session.scalars(select(Product).join(product_member, product_member.c.member_id == Product.id)
                              .where(product_member.c.product_id == product.id)).all()
    parts = members or [product]  # a product made of members carries their rights, all of them
    for part in parts:
        if released(part, at):
            continue
        if not entitled(session, who, part.proposal_id):
            return Decision(False, f"{part.obs_id} exclusive to program {part.proposal_id} until "
                                   f"{part.release_at}")
    return Decision(True, "released" if all(released(p, at) for p in parts) else "entitled")


# -- data paths -------------------------------------------------------------------------------
DATA_PATHS: dict[str, Callable] = {}  # every function that hands out data, by the path it serves


def data_path(name: str) -> Callable[[Callable], Callable]:
    """Register a function that serves data as path ``name``; it must call :func:`require`."""
    def register(fn: Callable) -> Callable:
        DATA_PATHS[name] = fn
        fn.data_path = name
        return fn
    return register


def require(db, who: Principal, product_id: int, at: datetime, path: str) -> None:
    """Ask the policy, audit the answer (committed either way), raise Refused when it says no."""
    if path not in DATA_PATHS:
        raise CalpipeError(f"internal: data path {path!r} is not registered with access.data_path")
    with db.write() as session:
        product = session.get(Product, product_id)
        decision = decide(session, who, product, at)
        session.add(Audit(at=at, account=who.name, product_id=product.id, obs_id=product.obs_id, path=path,
                          outcome="served" if decision.allowed else "refused", reason=decision.reason))
    if not decision.allowed:
        raise Refused()


def authenticate(db, at: datetime, token: str | None = None, name: str | None = None,
                 password: str | None = None, path: str = "login") -> Principal:
    """Anonymous, or the account of a token or of a name and password; Refused (audited) otherwise."""
    if token is None and name is None:
        return Principal.anonymous()
    with db.write() as session:
        if token is not None:
            who = by_token(session, token, at, path)
        else:
            who = login(session, name, password or "", at, path)
    if who is None:
        raise Refused()
    return who
