"""Notifications: an outbox of events, fanned out to subscriptions, mailed by SMTP exactly once.

An event (new in the sandbox, archived after end of campaign, reprocessed,
became public) is written by :func:`announce` in the transaction of the change
it announces, so there is no change without its event and no event without its
change. :func:`send` then (a) fans each new event out to the subscriptions of
its program, one ``delivery`` row per (event, subscriber) with a unique dedupe
key, listing only the products the access policy lets that subscriber read;
(b) mails the due deliveries (at once, or one daily digest per subscriber),
each message listing its products with a JSON manifest attached that
``calpipe archive get --manifest FILE`` downloads; (c) marks them sent. A crash
anywhere before (c) leaves the delivery queued and the next run sends it; the
dedupe key is the Message-ID, so a crash after the server accepted the message
but before (c) gives a resend a mail client recognises as the same message.
An unreachable server leaves deliveries queued, retried with doubling backoff,
their error shown by ``calpipe archive notify status``.

SMTP settings live in the archive's config file ``archive.toml``::

    [smtp]
    host = "mail.example.org"
    port = 587
    tls = "starttls"            # none | starttls | ssl
    user = "archive"
    password_env = "CALPIPE_SMTP_PASSWORD"   # the password itself is never in the file
    sender = "archive@example.org"
"""

from __future__ import annotations

import json
import os
import smtplib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calpipe.core.errors import UsageError

from . import access
from .tables import Account, Delivery, Event, Product, Subscription

NEW_IN_SANDBOX, ARCHIVED, REPROCESSED, BECAME_PUBLIC = "sandbox", "archived", "reprocessed", "public"
KINDS = (NEW_IN_SANDBOX, ARCHIVED, REPROCESSED, BECAME_PUBLIC)
IMMEDIATE, DAILY = "immediate", "daily"
QUEUED, SENT = "queued", "sent"
CONFIG = "archive.toml"
BACKOFF = timedelta(minutes=1)  # first retry after a failed send; doubled each time up to MAX_BACKOFF
MAX_BACKOFF = timedelta(hours=6)
WHAT = {NEW_IN_SANDBOX: "new in the sandbox (first processing, not final)",
        ARCHIVED: "archived after end-of-campaign reprocessing", REPROCESSED: "reprocessed",
        BECAME_PUBLIC: "now public"}


def announce(session: Session, kind: str, products: list[Product], at: datetime) -> list[Event]:
    """Outbox rows for ``products`` (one per program), in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"event kind {kind!r}: one of {', '.join(KINDS)}")
    by_program: dict[str | None, list[int]] = {}
    for product in products:
        by_program.setdefault(product.proposal_id, []).append(product.id)
    events = [Event(at=at, kind=kind, program=program, product_ids=ids, fanned_out=False)
              for program, ids in by_program.items()]
    session.add_all(events)
    return events


def release_due(session: Session, at: datetime) -> int:
    """Flip the flag of every product whose release date has come, with its "became public" event."""
    due = session.scalars(select(Product).where(Product.release_at <= at,
                                                Product.data_rights != "public")).all()
    for product in due:
        product.data_rights = "public"
    if due:
        announce(session, BECAME_PUBLIC, list(due), at)
    return len(due)


def subscribe(session: Session, account: Account, program: str, mode: str = IMMEDIATE) -> Subscription:
    if mode not in (IMMEDIATE, DAILY):
        raise UsageError(f"subscription mode {mode!r}: {IMMEDIATE} or {DAILY}")
    if not account.email:
        raise UsageError(f"account {account.name!r} has no e-mail address (`calpipe archive account add "
                         f"{account.name} --email ADDRESS`)")
    found = session.scalar(select(Subscription).where(Subscription.account_id == account.id,
                                                      Subscription.program == program))
    if found is None:
        found = Subscription(account_id=account.id, program=program, mode=mode)
        session.add(found)
    found.mode = mode
    session.flush()
    return found


# -- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 25
    tls: str = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "archive@localhost"
    timeout: float = 10.0

    @classmethod
    def load(cls, root: Path) -> SmtpConfig:
        path = Path(root) / CONFIG
        if not path.is_file():
            return cls()
        try:
            smtp = tomllib.loads(path.read_text()).get("smtp", {})
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: not valid TOML ({exc})") from None
        unknown = set(smtp) - {"host", "port", "tls", "user", "password_env", "sender", "timeout"}
        if unknown:
            raise UsageError(f"{path} [smtp]: unknown key(s) {', '.join(sorted(unknown))} (known: host, "
                             "port, tls, user, password_env, sender, timeout)")
        tls = smtp.get("tls", "none")
        if tls not in ("none", "starttls", "ssl"):
            raise UsageError(f"{path} [smtp] tls = {tls!r}: none, starttls or ssl")
        port = smtp.get("port", 465 if tls == "ssl" else 25)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise UsageError(f"{path} [smtp] port = {port!r}: an integer 1-65535")
        env = smtp.get("password_env")
        return cls(host=str(smtp.get("host", "localhost")), port=port, tls=tls, user=smtp.get("user"),
                   password=os.environ.get(env) if env else None,
                   sender=str(smtp.get("sender", "archive@localhost")),
                   timeout=float(smtp.get("timeout", 10)))

    def connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                smtp.starttls()
        if self.user:
            smtp.login(self.user, self.password or "")
        return smtp


# -- the sender -------------------------------------------------------------------------------
@dataclass
class SendReport:
    fanned_out: int = 0
    sent: int = 0  # messages
    failed: int = 0  # messages that stay queued
    errors: list[str] = field(default_factory=list)


def fan_out(archive, at: datetime) -> int:
    """One delivery per (new event, subscriber who may read at least one of its products)."""
    made = 0
    with archive.db.read() as session:
        new = session.scalars(select(Event.id).where(Event.fanned_out.is_(False)).order_by(Event.id)).all()
    for event_id in new:
        with archive.db.write() as session:  # one event's fan-out in one transaction: all or none
            event = session.get(Event, event_id)
            if event.fanned_out:
                continue
            subs = session.scalars(select(Subscription).where(Subscription.program == event.program)).all()
            for sub in subs:
                owner = session.get(Account, sub.account_id)
                who = access.Principal.of(owner)
                readable = [pid for pid in event.product_ids
                            if access.decide(session, who, session.get(Product, pid), at).allowed]
                if readable:
                    session.add(Delivery(event_id=event.id, subscription_id=sub.id,
                                         dedupe_key=f"event-{event.id}.sub-{sub.id}@calpipe-archive",
                                         product_ids=readable, state=QUEUED, attempts=0, next_try=at))
                    made += 1
            event.fanned_out = True
    return made


def send(archive, config: SmtpConfig, at: datetime | None = None,
         before_send: Callable[[EmailMessage], None] | None = None) -> SendReport:
    """Release what is due, fan out, mail every due delivery; ``before_send`` is a test's crash point."""
    at = at or archive.clock()
    report = SendReport()
    with archive.db.write() as session:
        release_due(session, at)
    report.fanned_out = fan_out(archive, at)
    with archive.db.read() as session:
        due = session.scalars(select(Delivery).where(Delivery.state == QUEUED, Delivery.next_try <= at)
                              .order_by(Delivery.id)).all()
        subs = {s.id: s for s in session.scalars(select(Subscription).where(
            Subscription.id.in_({d.subscription_id for d in due}))).all()}
    batches: list[list[Delivery]] = []
    for sub_id, sub in sorted(subs.items()):
        mine = [d for d in due if d.subscription_id == sub_id]
        if sub.mode == IMMEDIATE:
            batches += [[d] for d in mine]
        elif sub.last_sent_at is None or at - sub.last_sent_at >= timedelta(days=1):
            batches.append(mine)
    for batch in batches:
        with archive.db.read() as session:
            message = _message(session, batch, config, at)
        try:
            if before_send is not None:
                before_send(message)
            with config.connect() as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            report.failed += 1
            report.errors.append(f"{message['To']}: {exc}")
            _retry_later(archive, batch, at, f"{type(exc).__name__}: {exc}")
            continue
        with archive.db.write() as session:
            for d in batch:
                row = session.get(Delivery, d.id)
                row.state, row.sent_at, row.attempts = SENT, at, row.attempts + 1
            session.get(Subscription, batch[0].subscription_id).last_sent_at = at
        report.sent += 1
    return report


def _retry_later(archive, batch: list[Delivery], at: datetime, error: str) -> None:
    with archive.db.write() as session:
        for d in batch:
            row = session.get(Delivery, d.id)
            row.attempts += 1
            row.last_error = error
            row.next_try = at + min(BACKOFF * 2 ** (row.attempts - 1), MAX_BACKOFF)


def manifest(session: Session, product_ids: list[int]) -> dict:
    """What ``calpipe archive get --manifest`` downloads: each product by observation and sha256."""
    rows = [session.get(Product, pid) for pid in product_ids]
    return {"format": "calpipe-archive-manifest/1", "products": [
        {"obs_id": p.obs_id, "sha256": p.sha256, "filename": p.filename, "calib_level": p.calib_level,
         "pipeline": p.pipeline, "pipeline_version": p.pipeline_version, "context": p.context,
         "state": p.state, "release_date": p.obs_release_date} for p in rows]}


def _message(session: Session, batch: list[Delivery], config: SmtpConfig, at: datetime) -> EmailMessage:
    sub = session.get(Subscription, batch[0].subscription_id)
    owner = session.get(Account, sub.account_id)
    events = {d.id: session.get(Event, d.event_id) for d in batch}
    ids = list(dict.fromkeys(pid for d in batch for pid in d.product_ids))
    doc = manifest(session, ids)
    message = EmailMessage()
    message["From"], message["To"] = config.sender, owner.email
    message["Date"] = format_datetime(at.replace(tzinfo=None), usegmt=False)
    message["Message-ID"] = f"<{batch[0].dedupe_key if len(batch) == 1 else _digest_key(batch)}>"
    kinds = sorted({e.kind for e in events.values()})
    message["Subject"] = (f"[calpipe archive] program {sub.program}: {len(ids)} product(s) "
                          + ("; ".join(WHAT[k] for k in kinds)))
    lines = [f"Program {sub.program}: " + "; ".join(WHAT[k] for k in kinds), ""]
    lines += [f"  {p['obs_id']}  level {p['calib_level']}  {p['filename']}  {p['state']}  "
              f"sha256 {p['sha256']}" for p in doc["products"]]
    lines += ["", "Download them all with:",
              "  calpipe archive get --manifest manifest.json -o DIR --token TOKEN"]
    message.set_content("\n".join(lines) + "\n")
    message.add_attachment(json.dumps(doc, indent=1).encode(), maintype="application", subtype="json",
                           filename="manifest.json")
    return message


def _digest_key(batch: list[Delivery]) -> str:
    return f"digest-{batch[0].id}-{batch[-1].id}.sub-{batch[0].subscription_id}@calpipe-archive"


def status(session: Session) -> dict:
    """Queued and sent deliveries, the oldest waiting, and the last errors: for operators."""
    count = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
    waiting = session.scalars(select(Delivery).where(Delivery.state == QUEUED).order_by(Delivery.id)).all()
    return {"events": session.scalar(select(func.count()).select_from(Event)),
            "events_not_fanned_out": session.scalar(select(func.count()).select_from(Event)
                                                    .where(Event.fanned_out.is_(False))),
            "queued": count.get(QUEUED, 0), "sent": count.get(SENT, 0),
            "retrying": [{"delivery": d.dedupe_key, "attempts": d.attempts,
                          "next_try": d.next_try.isoformat(), "error": d.last_error}
                         for d in waiting if d.attempts]}
