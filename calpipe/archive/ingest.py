"""Downlink files -> exposures -> Level 1 raw -> sandbox products, each registered once.

Per telemetry file: read (a file that is not telemetry is reported and left
out; rejected packets are reported), stored by sha256, registered, and linked
to every exposure tag among its packets (many-to-many). Then every exposure it
touched is claimed (one process at a time; a dead claimant's claim is taken
over) and, if all its packets are there, extracted with calpipe.level0 from
every file that holds it, registered as Level 1, and run through the default
processing chain its instrument plugin declares (``calpipe_processing``), each
product registered in state ``sandbox``. An exposure still missing packets
waits (``incomplete``) for a later downlink; it is never processed partial.

Publishing a file: a *pending* row (state ``processing``, its sha256 and
catalog columns, claimed by this process) is committed first, then the file is
stored, then the row is made final with its activity entry. Killed at any
moment, a rerun finds either a pending row whose file is in the store (it
finishes it) or one whose file is not (it drops the claim and makes it again):
no file without a row, no row without a file, nothing twice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calpipe.core.errors import CalpipeError, InputDataError
from calpipe.core.provenance import sha256_file

from .catalog import catalog_row
from .directory import Archive, claimant_alive, me, now, pid_alive
from .tables import (
    EXTRACTED,
    FAILED,
    INCOMPLETE,
    PROCESSING,
    RAW,
    SANDBOX,
    UNPROCESSED,
    Activity,
    Exposure,
    Product,
    TelemetryFile,
)

log = logging.getLogger("calpipe")
T = TypeVar("T")
PROCESSED = "processed"  # exposure state: its chain ran (products sandbox, or failed)
_WAITING = ("incomplete,", "are missing", "no header packets", "no science packets")


@dataclass
class Report:
    """What one ingest did: a line per event, problems with their exit class, files registered."""

    lines: list[str] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)
        log.info("%s", line)

    def problem(self, code: int, message: str) -> None:
        self.problems.append((code, message))
        self.lines.append(f"PROBLEM: {message}")

    @property
    def exit_code(self) -> int:
        return self.problems[0][0] if self.problems else 0


def retrying(archive: Archive, body: Callable[[Session], T], attempts: int = 5) -> T:
    """One write transaction; another process winning a unique key first just means: read it again."""
    for attempt in range(attempts):
        try:
            with archive.db.write() as session:
                return body(session)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def ingest(archive: Archive, paths: list[Path], retry_failed: bool = False) -> Report:
    """Ingest telemetry files and raw FITS products; see the module doc."""
    report = Report()
    recover(archive, report)
    touched: dict[int, None] = {}
    waiting: list[int] = []
    for path in map(Path, paths):
        if not path.is_file():
            report.problem(3, f"{path}: file not found")
        elif _is_fits(path):
            exposure = ingest_raw(archive, path, report)
            if exposure is not None:
                touched[exposure] = None
        else:
            touched.update(dict.fromkeys(ingest_telemetry(archive, path, report)))
    for exposure_id in touched:
        if not complete(archive, exposure_id, report, retry_failed):
            waiting.append(exposure_id)
    for exposure_id in waiting:  # another process had them: it may have lacked our files, so finish them
        while not complete(archive, exposure_id, report, retry_failed, quiet=True):
            time.sleep(0.2)
    return report


def _is_fits(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(9) == b"SIMPLE  ="


# -- telemetry ---------------------------------------------------------------------------
def ingest_telemetry(archive: Archive, path: Path, report: Report) -> list[int]:
    """Keep one downlink file and link it to its exposures; returns their ids."""
    from calpipe.level0.decode import read_telemetry

    try:
        telemetry = read_telemetry(path)
    except InputDataError as exc:
        report.problem(3, f"{exc} (not ingested; the other files are)")
        return []
    for rejected in telemetry.rejected:
        report.say(f"{path.name}: {rejected}")
    tags = sorted({str(p.tag) for p in telemetry.packets if p.tag is not None})
    sha = archive.store.put(path)
    if sha != telemetry.sha256:
        raise InputDataError(f"{path}: changed while being ingested; ingest it again when it is complete")

    def register(session: Session) -> tuple[bool, list[int]]:
        tf = session.scalar(select(TelemetryFile).where(TelemetryFile.sha256 == sha))
        new = tf is None
        if new:
            tf = TelemetryFile(sha256=sha, name=path.name, size=path.stat().st_size, received_at=now(),
                               packets=len(telemetry.packets), rejected=len(telemetry.rejected))
            session.add(tf)
            session.add(Activity(at=now(), who=archive.who, what="received", obs_id=None,
                                 why=f"telemetry {path.name} sha256:{sha[:16]}: {len(telemetry.packets)} "
                                     f"packets, {len(telemetry.rejected)} rejected, exposures "
                                     f"{', '.join(tags) or 'none'}"))
        ids = []
        for tag in tags:
            exposure = session.scalar(select(Exposure).where(Exposure.tag == tag))
            if exposure is None:
                exposure = Exposure(tag=tag, program=tag.split(":")[0], state=INCOMPLETE, updated_at=now())
                session.add(exposure)
            if tf not in exposure.telemetry:
                exposure.telemetry.append(tf)
            session.flush()
            ids.append(exposure.id)
        return new, ids

    new, ids = retrying(archive, register)
    report.say(f"{path.name}: {'stored' if new else 'already in the archive'} (sha256 {sha[:16]}…), "
               f"{len(telemetry.packets)} packets, exposures {', '.join(tags) or 'none'}")
    return ids


# -- raw FITS ----------------------------------------------------------------------------
def ingest_raw(archive: Archive, path: Path, report: Report) -> int | None:
    """Register a Level 1 raw product given as a file; returns its exposure's id."""
    sha = sha256_file(path)
    try:
        row = catalog_row(path, sha, path.stat().st_size, archive.selectors())
    except InputDataError as exc:
        report.problem(3, str(exc))
        return None
    if row["calib_level"] != 1:
        report.problem(3, f"{path}: DATALVL = {row['calib_level']}; only Level 1 raw products are ingested "
                          "(the archive makes the higher levels itself)")
        return None

    def exposure(session: Session) -> tuple[int, str | None]:
        existing = session.scalar(select(Exposure).where(Exposure.obs_id == row["obs_id"]))
        if existing is not None:
            raw = session.scalar(select(Product).where(Product.exposure_id == existing.id,
                                                       Product.calib_level == 1))
            return existing.id, None if raw is None else raw.sha256
        new = Exposure(obs_id=row["obs_id"], program=row["proposal_id"], instrument=row["instrument_name"],
                       state=INCOMPLETE, updated_at=now())
        session.add(new)
        session.flush()
        return new.id, None

    exposure_id, stored = retrying(archive, exposure)
    if stored is not None and stored != sha:
        report.problem(3, f"{path}: observation {row['obs_id']} is already archived with other bytes "
                          f"(sha256 {stored[:16]}…); a raw product is kept once, never replaced")
        return None
    if stored is None:
        publish(archive, path, row, exposure_id, None, RAW, report, "ingested raw product")
        with archive.db.write() as session:
            session.execute(update(Exposure).where(Exposure.id == exposure_id)
                            .values(state=EXTRACTED, updated_at=now()))
    else:
        report.say(f"{path.name}: already in the archive (sha256 {sha[:16]}…)")
    return exposure_id


# -- publishing ----------------------------------------------------------------------------
def publish(archive: Archive, path: Path, row: dict[str, Any], exposure_id: int | None,
            input_sha: str | None, state: str, report: Report, why: str) -> Product:
    """Pending row, then the file into the store, then the row final: see the module doc."""
    def pending(session: Session) -> Product:
        product = Product(**row, filename=path.name, exposure_id=exposure_id, input_sha256=input_sha,
                          state=PROCESSING, claimed_by=me(), made_at=now())
        session.add(product)
        session.flush()
        return product

    product = retrying(archive, pending, attempts=1)
    try:
        archive.store.put(path)
    except OSError as exc:  # e.g. a full disk: register nothing that is not wholly stored
        with archive.db.write() as session:
            session.delete(session.get(Product, product.id))
        raise CalpipeError(f"{path.name}: cannot be stored in {archive.store.objects} "
                           f"({exc.strerror or exc}); nothing was registered for it: free space and ingest "
                           "again") from exc
    finish(archive, product.id, state, why)
    product.state, product.claimed_by = state, None
    report.registered.append(path.name)
    report.say(f"{row['obs_id']}: registered {path.name} level {row['calib_level']} ({state}"
               + (f", {row['pipeline']} {row['pipeline_version']} context {row['context']}"
                  if row["pipeline"] else "") + ")")
    return product


def finish(archive: Archive, product_id: int, state: str, why: str) -> None:
    with archive.db.write() as session:
        product = session.get(Product, product_id)
        product.state, product.claimed_by = state, None
        session.add(Activity(at=now(), who=archive.who, what="registered", obs_id=product.obs_id,
                             product_id=product.id, state_from=None, state_to=state,
                             why=f"{why}: {product.filename} sha256:{product.sha256[:16]}"))


def recover(archive: Archive, report: Report) -> None:
    """Finish or drop what killed processes left pending; release their exposure claims."""
    with archive.db.read() as session:
        pending = session.scalars(select(Product).where(Product.state == PROCESSING)).all()
        claimed = session.scalars(select(Exposure).where(Exposure.claimed_by.is_not(None))).all()
    for product in pending:
        if claimant_alive(product.claimed_by):
            continue
        stored = archive.store.path(product.sha256)
        if stored.is_file() and sha256_file(stored) == product.sha256:
            state = RAW if product.calib_level == 1 and not product.pipeline else SANDBOX
            finish(archive, product.id, state, f"recovered after {product.claimed_by} stopped")
            report.say(f"{product.obs_id}: recovered {product.filename} ({state}) left by "
                       f"{product.claimed_by}")
        else:
            with archive.db.write() as session:
                session.delete(session.get(Product, product.id))  # never published: no file, no version
            report.say(f"{product.obs_id}: dropped the unfinished {product.filename} of {product.claimed_by}")
    archive.store.sweep(pid_alive)
    for exposure in claimed:
        if not claimant_alive(exposure.claimed_by):
            with archive.db.write() as session:
                session.execute(update(Exposure).where(Exposure.id == exposure.id,
                                                       Exposure.claimed_by == exposure.claimed_by)
                                .values(claimed_by=None))


# -- exposures -------------------------------------------------------------------------
def claim(archive: Archive, exposure_id: int) -> bool:
    """Take the exposure for this process (compare-and-swap on claimed_by)."""
    with archive.db.write() as session:
        exposure = session.get(Exposure, exposure_id)
        holder = exposure.claimed_by
        if holder is not None and holder != me() and claimant_alive(holder):
            return False
        done = session.execute(update(Exposure).where(Exposure.id == exposure_id,
                                                      _same_claim(holder)).values(claimed_by=me()))
        return done.rowcount == 1


def _same_claim(holder: str | None):
    return Exposure.claimed_by.is_(None) if holder is None else Exposure.claimed_by == holder


def release(archive: Archive, exposure_id: int, **values: Any) -> None:
    with archive.db.write() as session:
        session.execute(update(Exposure).where(Exposure.id == exposure_id, Exposure.claimed_by == me())
                        .values(claimed_by=None, **values))


def complete(archive: Archive, exposure_id: int, report: Report, retry_failed: bool = False,
             quiet: bool = False) -> bool:
    """Extract the exposure if it is whole, then run its processing chain; each part once.

    Returns False if another live process holds the exposure (nothing was done).
    """
    if not claim(archive, exposure_id):
        if not quiet:
            report.say(f"exposure {exposure_id}: being processed by another process; waiting for it")
        return False
    values: dict[str, Any] = {}
    try:
        with archive.db.read() as session:
            exposure = session.get(Exposure, exposure_id)
            files = [(t.name, t.sha256) for t in exposure.telemetry]
            state, tag = exposure.state, exposure.tag
            extracted = session.scalar(select(Product.id).where(
                Product.exposure_id == exposure_id, Product.calib_level == 1, Product.state == RAW))
        if extracted is not None and state in (INCOMPLETE, FAILED):  # a killed run registered it
            state = values["state"] = EXTRACTED
        if state in (INCOMPLETE, FAILED) and tag is not None:
            state = _extract(archive, exposure_id, tag, files, report, values)
        if state == EXTRACTED or (state == PROCESSED and retry_failed):
            values.update(state=process(archive, exposure_id, report, retry_failed))
    finally:
        if values:
            values["updated_at"] = now()
        release(archive, exposure_id, **values)
    return True


def _extract(archive: Archive, exposure_id: int, tag: str, files: list[tuple[str, str]], report: Report,
             values: dict[str, Any]) -> str:
    from calpipe.level0.extract import extract

    with archive.store.work_dir() as work:
        work = Path(work)
        (work / "tlm").mkdir()
        links = []
        for name, sha in sorted(files):
            link = work / "tlm" / (name if not (work / "tlm" / name).exists() else f"{sha[:12]}_{name}")
            os.symlink(archive.store.check(sha), link)
            links.append(link)
        result = extract(links, tag, work / "raw")
        if result.failed:
            message = "; ".join(result.failed)
            waiting = any(w in message for w in _WAITING)
            values.update(state=INCOMPLETE if waiting else FAILED, message=message)
            if waiting:
                report.say(f"exposure {tag}: waiting for more telemetry ({message})")
            else:
                report.problem(3, f"exposure {tag}: not extracted: {message}")
            return values["state"]
        [raw] = result.written
        row = catalog_row(raw, sha256_file(raw), raw.stat().st_size, archive.selectors())
        with archive.db.write() as session:
            session.execute(update(Exposure).where(Exposure.id == exposure_id)
                            .values(obs_id=row["obs_id"], instrument=row["instrument_name"]))
        publish(archive, raw, row, exposure_id, None, RAW, report, f"extracted from telemetry tag {tag}")
    values.update(state=EXTRACTED, message=None)
    return EXTRACTED


def process(archive: Archive, exposure_id: int, report: Report, retry_failed: bool = False) -> str:
    """Run the default chain on the exposure's raw product; returns the exposure's new state."""
    from astropy.io import fits

    with archive.db.read() as session:
        raw = session.scalar(select(Product).where(Product.exposure_id == exposure_id,
                                                   Product.calib_level == 1, Product.state == RAW))
    header = fits.getheader(archive.store.check(raw.sha256))
    chain = archive.registry.processing_for(raw.instrument_name, header.get)
    if chain is None:
        report.problem(3, f"{raw.obs_id}: no installed plugin declares how to process {raw.filename} "
                          f"(INSTRUME = {raw.instrument_name!r}); install the instrument's plugin, then "
                          "`calpipe archive ingest --retry` it")
        return UNPROCESSED
    current = raw
    for name in chain.chain:
        made = make(archive, name, current, exposure_id, report, retry_failed)
        if made is None:
            return PROCESSED
        current = made
    return PROCESSED


def make(archive: Archive, pipeline_name: str, source: Product, exposure_id: int | None, report: Report,
         retry_failed: bool = False, context: int | None = None, state: str = SANDBOX,
         why: str = "sandbox processing", version: str | None = None) -> Product | None:
    """The product of ``pipeline_name`` (``version``, else the newest release) from ``source``.

    Found in the catalog (with context ``context`` if given), or made, stored and
    registered in ``state``. Returns None if it failed (now, or before and not retried).
    """
    from calpipe.core import api

    pipeline = api.load(f"{pipeline_name}@{version}" if version else pipeline_name, archive.registry)
    wanted = [Product.obs_id == source.obs_id, Product.pipeline == pipeline.name,
              Product.pipeline_version == pipeline.version, Product.input_sha256 == source.sha256]
    with archive.db.read() as session:
        found = session.scalars(select(Product).where(*wanted).order_by(Product.id)).all()
    done = [p for p in found if p.state not in (FAILED, PROCESSING)
            and (context is None or p.context == f"{context:04d}")]
    if done:
        return done[-1]
    failed = [p for p in found if p.state == FAILED and context is None]
    if failed and not retry_failed:
        report.say(f"{source.obs_id}: {pipeline.name} {pipeline.version} failed before "
                   f"({failed[-1].message}); not retried without --retry")
        return None
    with archive.store.work_dir() as work:
        work = Path(work)
        given = archive.store.copy_out(source.sha256, work / "in" / source.filename)
        result = api.run(pipeline, [given], work / "out", context=context, refdata=archive.refdata,
                         registry=archive.registry)
        [outcome] = result.outcomes
        if outcome.error:
            _record_failure(archive, pipeline, source, exposure_id, outcome, failed)
            report.problem(outcome.exit_code, f"{source.obs_id}: {pipeline.name} {pipeline.version} failed: "
                                              f"{outcome.error}")
            return None
        [out] = outcome.outputs
        row = catalog_row(out, sha256_file(out), out.stat().st_size, archive.selectors())
        return publish(archive, out, row, exposure_id, source.sha256, state, report,
                       f"{why} by {pipeline.name} {pipeline.version}")


def _record_failure(archive: Archive, pipeline, source: Product, exposure_id: int | None, outcome,
                    before: list[Product]) -> None:
    message = str(outcome.error)
    with archive.db.write() as session:
        if before:  # a retry that failed again: the same unit of work, a new message
            product = session.get(Product, before[-1].id)
            product.message, product.exit_code, product.made_at = message, outcome.exit_code, now()
        else:
            product = Product(obs_id=source.obs_id, calib_level=pipeline.output_level,
                              filename=f"{source.obs_id}_{pipeline.suffix}.fits", pipeline=pipeline.name,
                              pipeline_version=pipeline.version, context="", exposure_id=exposure_id,
                              input_sha256=source.sha256, state=FAILED, message=message,
                              exit_code=outcome.exit_code, made_at=now(),
                              instrument_name=source.instrument_name, proposal_id=source.proposal_id)
            session.add(product)
            session.flush()
        session.add(Activity(at=now(), who=archive.who, what="failed", obs_id=source.obs_id,
                             product_id=product.id, state_from=None, state_to=FAILED,
                             why=f"{pipeline.name} {pipeline.version} on {source.filename}: {message} "
                                 f"(exit {outcome.exit_code})"))


