"""Notifications against a real SMTP server on loopback (aiosmtpd): outbox written with the change,
one mail per (event, subscriber) even across a crash, daily digests, the policy deciding who hears of
what, manifests that download, and an unreachable server leaving mail queued with backoff."""

from __future__ import annotations

import email
import json
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from calpipe.archive import access, notify
from calpipe.archive.access import Principal
from calpipe.archive.ingest import finish
from calpipe.archive.retrieve import get_manifest
from calpipe.archive.tables import PROCESSING, SANDBOX, Delivery, Event, Product
from calpipe.core.errors import UsageError

from .conftest import new_archive

T0 = datetime(2031, 6, 1, 9, 0, 0)


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, notify.SmtpConfig(host="127.0.0.1", port=controller.port, sender="archive@test.invalid")
    controller.stop()


@pytest.fixture
def archive(db_url, tmp_path):
    archive = new_archive(tmp_path / "archive", db_url)
    archive.clock = lambda: T0
    with archive.db.write() as session:
        for name in ("pi", "guest"):
            access.add_account(session, name, None, T0, email=f"{name}@example.org")
        access.add_program(session, Principal.local_operator(), "PN", "pi", 1, T0)
    yield archive
    archive.close()


def _pending(archive, tmp_path: Path, obs: str, program: str = "PN") -> int:
    data = tmp_path / f"{obs}_cal.fits"
    data.write_bytes(obs.encode() * 100)
    sha = archive.store.put(data)
    with archive.db.write() as session:
        row = Product(obs_id=obs, filename=data.name, calib_level=2, proposal_id=program, sha256=sha,
                      state=PROCESSING, made_at=T0)
        session.add(row)
        session.flush()
        return row.id


def _subscribe(archive, name, mode=notify.IMMEDIATE):
    with archive.db.write() as session:
        notify.subscribe(session, access.account(session, name), "PN", mode)


def _count(archive, table) -> int:
    with archive.db.read() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_the_event_is_written_in_the_transaction_of_the_change(archive, tmp_path, monkeypatch):
    pid = _pending(archive, tmp_path, "obs1")
    finish(archive, pid, SANDBOX, "test")
    with archive.db.read() as session:
        [event] = session.scalars(select(Event)).all()
    assert (event.kind, event.program, event.product_ids) == (notify.NEW_IN_SANDBOX, "PN", [pid])

    pid2 = _pending(archive, tmp_path, "obs2")

    real = notify.announce

    def announce_then_crash(session, *args):
        real(session, *args)
        session.flush()  # the event row is written...
        raise RuntimeError("crash before the commit")  # ...and the transaction dies

    monkeypatch.setattr(notify, "announce", announce_then_crash)
    with pytest.raises(RuntimeError):
        finish(archive, pid2, SANDBOX, "test")
    with archive.db.read() as session:
        assert session.get(Product, pid2).state == PROCESSING  # no change...
    assert _count(archive, Event) == 1  # ...and no event


def test_one_mail_per_event_and_subscriber_with_a_manifest_that_downloads(archive, tmp_path, smtp):
    inbox, config = smtp
    _subscribe(archive, "pi")
    _subscribe(archive, "guest")  # no member of PN: hears of nothing exclusive
    pid = _pending(archive, tmp_path, "obs1")
    finish(archive, pid, SANDBOX, "test")
    report = notify.send(archive, config, T0)
    assert (report.sent, report.failed) == (1, 0)
    assert notify.send(archive, config, T0 + timedelta(minutes=5)).sent == 0  # never twice
    [mail] = inbox.messages
    assert mail["To"] == "pi@example.org"
    assert "obs1" in mail.get_body(("plain",)).get_content()
    [attachment] = list(mail.iter_attachments())
    manifest = json.loads(attachment.get_content())
    assert [p["obs_id"] for p in manifest["products"]] == ["obs1"]
    with archive.db.write() as session:
        token = access.new_token(session, access.account(session, "pi"), T0)
    who = access.authenticate(archive.db, T0, token=token)
    [(path, _)] = get_manifest(archive, manifest, tmp_path / "got", who=who)
    assert path.read_bytes() == (tmp_path / "obs1_cal.fits").read_bytes()


def test_became_public_reaches_everyone_subscribed(archive, tmp_path, smtp):
    inbox, config = smtp
    _subscribe(archive, "guest")
    finish(archive, _pending(archive, tmp_path, "obs1"), SANDBOX, "test")
    assert notify.send(archive, config, T0).sent == 0
    release = access.add_months(T0, 1)
    assert notify.send(archive, config, release - timedelta(seconds=1)).sent == 0
    assert notify.send(archive, config, release).sent == 1
    [mail] = inbox.messages
    assert mail["To"] == "guest@example.org" and "now public" in mail["Subject"]
    with archive.db.read() as session:
        assert session.scalar(select(Product.data_rights)) == "public"


def test_daily_digest_gathers_a_days_events(archive, tmp_path, smtp):
    inbox, config = smtp
    _subscribe(archive, "pi", notify.DAILY)
    for i in range(3):
        finish(archive, _pending(archive, tmp_path, f"obs{i}"), SANDBOX, "test")
    assert notify.send(archive, config, T0).sent == 1
    finish(archive, _pending(archive, tmp_path, "obs9"), SANDBOX, "test")
    assert notify.send(archive, config, T0 + timedelta(hours=23)).sent == 0
    assert notify.send(archive, config, T0 + timedelta(days=1)).sent == 1
    first, second = inbox.messages
    assert [p["obs_id"] for p in json.loads(next(first.iter_attachments()).get_content())["products"]] == [
        "obs0", "obs1", "obs2"]
    assert "obs9" in second.get_body(("plain",)).get_content()


CRASHER = """
import os, sys
from datetime import datetime
from pathlib import Path
from calpipe.archive import notify
from calpipe.archive.directory import Archive
archive = Archive.open(Path(sys.argv[1]), sys.argv[2] or None)
config = notify.SmtpConfig(host="127.0.0.1", port=int(sys.argv[3]))
notify.send(archive, config, datetime.fromisoformat(sys.argv[4]), before_send=lambda m: os._exit(9))
"""


def test_a_crash_between_commit_and_send_still_sends_once(archive, tmp_path, smtp, db_url):
    inbox, config = smtp
    _subscribe(archive, "pi")
    finish(archive, _pending(archive, tmp_path, "obs1"), SANDBOX, "test")  # committed: the outbox row
    crashed = subprocess.run([sys.executable, "-c", CRASHER, str(archive.root), db_url or "", str(config.port),
                              T0.isoformat()], env={**os.environ}, capture_output=True, text=True)
    assert crashed.returncode == 9, crashed.stderr
    assert inbox.messages == []
    assert _count(archive, Delivery) == 1  # fanned out, not sent
    assert notify.send(archive, config, T0).sent == 1
    assert notify.send(archive, config, T0 + timedelta(hours=1)).sent == 0
    assert len(inbox.messages) == 1


def test_unreachable_server_keeps_mail_queued_with_backoff(archive, tmp_path, smtp):
    inbox, config = smtp
    dead = notify.SmtpConfig(host="127.0.0.1", port=_free_port(), timeout=2)
    _subscribe(archive, "pi")
    finish(archive, _pending(archive, tmp_path, "obs1"), SANDBOX, "test")
    report = notify.send(archive, dead, T0)
    assert (report.sent, report.failed) == (0, 1)
    with archive.db.read() as session:
        status = notify.status(session)
    assert (status["queued"], status["sent"]) == (1, 0)
    [retry] = status["retrying"]
    assert retry["attempts"] == 1 and retry["next_try"] == (T0 + notify.BACKOFF).isoformat()
    assert "ConnectionRefusedError" in retry["error"]
    assert notify.send(archive, dead, T0 + timedelta(seconds=59)).failed == 0  # not due yet
    assert notify.send(archive, dead, T0 + notify.BACKOFF).failed == 1
    with archive.db.read() as session:
        assert notify.status(session)["retrying"][0]["next_try"] == (T0 + 3 * notify.BACKOFF).isoformat()
    assert notify.send(archive, config, T0 + 3 * notify.BACKOFF).sent == 1
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(("text", "named"), [('[smtp]\ntls = "maybe"\n', "tls"), ('[smtp]\nport = 0\n', "port"),
                                             ('[smtp]\nhots = "x"\n', "hots"), ("[smtp\n", "TOML")])
def test_bad_smtp_config_names_the_file_and_key(tmp_path, text, named):
    (tmp_path / notify.CONFIG).write_text(text)
    with pytest.raises(UsageError, match=named) as info:
        notify.SmtpConfig.load(tmp_path)
    assert str(tmp_path / notify.CONFIG) in str(info.value)


def test_smtp_config_from_the_archive_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PW", "s3cret")
    (tmp_path / notify.CONFIG).write_text('[smtp]\nhost = "mail.example.org"\nport = 587\ntls = "starttls"\n'
                                          'user = "arch"\npassword_env = "TEST_SMTP_PW"\n')
    config = notify.SmtpConfig.load(tmp_path)
    assert (config.host, config.port, config.tls, config.user, config.password) == (
        "mail.example.org", 587, "starttls", "arch", "s3cret")
