"""Bulk reprocessing: plan what a new release or context affects, a ledger of jobs, workers that run them.

*Plan* (runs nothing): for a reference context N, the products whose chosen
file changes for a reftype their pipeline uses (calpipe.refdata's ``affected``
over the catalog's selection keywords); for a release NAME@VERSION, the
products made by another release of NAME whose resolved steps differ in a step
that runs (name, version or effective parameters). A release whose YAML says
``reprocess: {policy: none}`` plans nothing unless forced.

*Ledger*: a campaign is the plan's snapshot, one ``job`` per (observation,
release, context), unique. The database decides what is done; executors only
run work. A worker claims a queued job (compare-and-swap), runs it with a warm
Runner per (release, context), publishes the product (pending row, store, final
row: ingest.publish) in state ``review`` and marks the job done with the
product's id (unique): a killed worker's job is re-queued, finds a product it
already published and only marks itself done. Infrastructure failures (a
worker that died: kill -9, out of memory; a timeout; an internal error) are
retried up to ``max_attempts``; science failures (exit 3/4) are final, kept
with their message. Results become ``current`` only when the campaign is
accepted, in one transaction that supersedes the versions they replace.

*Priority*: new downlinks first, by strict priority at job boundaries: a bulk
worker claims its next job only when no exposure is claimed by an ingest (and
runs at a lower OS priority, nice 10). A reserved share would leave cores idle
when no downlink arrives; strict priority keeps them busy and delays new data
by at most one running bulk job per core.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from calpipe.core.errors import UsageError

from .directory import Archive, claimant_alive, me, now
from .tables import (
    CURRENT,
    FAILED,
    PROCESSING,
    REVIEW,
    SANDBOX,
    SUPERSEDED,
    Activity,
    BulkCampaign,
    Exposure,
    Job,
    Product,
)

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
REVIEWABLE, ACCEPTED, PAUSED = "reviewable", "accepted", "paused"
LIVE = (CURRENT, SANDBOX)  # the versions a plan looks at
SCIENCE = (3, 4)  # exit codes of bad input data and reference-data errors: never retried


# -- plan --------------------------------------------------------------------------------
class Planned(NamedTuple):  # a tuple: a plan of a million products must stay cheap to build
    product_id: int
    obs_id: str
    source_id: int
    pipeline: str
    version: str
    context: str
    why: str


@dataclass
class Plan:
    target: str
    selection: str
    items: list[Planned] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def selection_key(pipeline: str | None, context: int | None, instrument: str | None, program: str | None,
                  force: bool) -> str:
    if (pipeline is None) == (context is None):
        raise UsageError("give exactly one of --pipeline NAME@VERSION and --context N")
    if pipeline is not None and "@" not in pipeline:
        raise UsageError(f"--pipeline {pipeline!r}: give NAME@VERSION")
    return json.dumps({"pipeline": pipeline, "context": context, "instrument": instrument,
                       "program": program, "force": force}, sort_keys=True)


def plan(archive: Archive, pipeline: str | None = None, context: int | None = None,
         instrument: str | None = None, program: str | None = None, force: bool = False) -> Plan:
    """What a release or context would reprocess, and why; nothing is run or written."""
    key = selection_key(pipeline, context, instrument, program, force)
    filters = [Product.state.in_(LIVE), Product.pipeline != ""]
    if instrument:
        filters.append(func.lower(Product.instrument_name) == instrument.lower())
    if program:
        filters.append(Product.proposal_id == str(program))
    if pipeline is not None:
        return _plan_release(archive, pipeline, force, filters, key)
    return _plan_context(archive, int(context), filters, key)


def step_differences(old, new) -> list[str]:
    """How two resolved pipelines differ in the steps that run: name, version, effective parameters."""
    def running(p) -> dict[str, tuple]:
        return {s.id: (s.step.name, s.step.version, s.params.model_dump(mode="json"))
                for s in p.steps if not s.skip}

    a, b = running(old), running(new)
    out = []
    for sid in dict.fromkeys([*a, *b]):
        if sid not in a:
            out.append(f"step {sid} ({b[sid][0]} {b[sid][1]}) added")
        elif sid not in b:
            out.append(f"step {sid} ({a[sid][0]} {a[sid][1]}) removed")
        elif a[sid][:2] != b[sid][:2]:
            out.append(f"step {sid}: {a[sid][0]} {a[sid][1]} -> {b[sid][0]} {b[sid][1]}")
        else:
            changed = sorted(k for k in {*a[sid][2], *b[sid][2]} if a[sid][2].get(k) != b[sid][2].get(k))
            if changed:
                out.append(f"step {sid}: " + ", ".join(f"{k} {a[sid][2].get(k)!r} -> {b[sid][2].get(k)!r}"
                                                       for k in changed))
    return out


def reprocess_policy(resolved) -> dict[str, str] | None:
    from calpipe.core.pipeline_file import read_header

    try:
        return read_header(Path(resolved.source)).get("reprocess")
    except (OSError, UsageError):
        return None


def _plan_release(archive: Archive, target: str, force: bool, filters: list, key: str) -> Plan:
    from calpipe.core import api

    name, version = target.split("@", 1)
    new = api.load(target, archive.registry)
    out = Plan(target, key)
    policy = reprocess_policy(new)
    if policy:
        out.notes.append(f"{target} declares reprocess: {policy['policy']} ({policy['reason']})")
        if policy["policy"] == "none" and not force:
            out.notes.append("nothing planned: the release does not call for reprocessing (--force to "
                             "reprocess anyway)")
            return out
    with archive.db.read() as session:
        olds = session.scalars(select(Product.pipeline_version).where(
            *filters, Product.pipeline == name, Product.pipeline_version != version).distinct()).all()
    source = aliased(Product)
    for old_version in sorted(olds):
        reasons = step_differences(api.load(f"{name}@{old_version}", archive.registry), new)
        if not reasons:
            out.notes.append(f"{name} {old_version} -> {version}: the steps that run are the same; "
                             "its products are not reprocessed")
            continue
        why = f"{name} {old_version} -> {version}: " + "; ".join(reasons)
        query = (select(Product.id, Product.obs_id, source.id, Product.context)
                 .join(source, source.sha256 == Product.input_sha256)
                 .where(*filters, Product.pipeline == name, Product.pipeline_version == old_version)
                 .order_by(Product.id))
        fixed = None if new.refdata is None else f"{new.refdata:04d}"
        with archive.db.read() as session:
            rows = session.connection().execute(query).all()  # Core rows: no ORM loading per row
        out.items += [Planned(pid, obs, src, name, version, fixed or ctx, why) for pid, obs, src, ctx in rows]
    return out


def _plan_context(archive: Archive, number: int, filters: list, key: str) -> Plan:
    from calpipe.core import api
    from calpipe.refdata.affected import affected
    from calpipe.refdata.store import Store, default_root

    store = Store(default_root(archive.refdata))
    target = store.load(number)
    wanted = f"{number:04d}"
    out = Plan(f"context {number}", key)

    @functools.cache
    def reftypes_of(release: str) -> tuple[str, ...]:
        return tuple(api.load(release, archive.registry).reftypes())

    source = aliased(Product)
    query = (select(Product.id, Product.obs_id, source.id, Product.pipeline, Product.pipeline_version,
                    Product.context, Product.instrument_name, Product.selection)
             .join(source, source.sha256 == Product.input_sha256)
             .where(*filters, Product.context != wanted, Product.context != ""))
    with archive.db.read() as session:
        rows = session.connection().execute(query).all()
    by_context: dict[str, list] = {}
    for row in rows:
        by_context.setdefault(row[5], []).append(row)
    for old, group in sorted(by_context.items()):
        before = store.load(int(old))
        keyed = {r[0]: r for r in group}

        def catalog(group=group):
            for pid, _o, _s, pipe, ver, _c, inst, sel in group:
                yield {**(sel or {}), "dataset": pid, "pipeline": f"{pipe}@{ver}", "INSTRUME": inst or ""}

        found: dict[int, list[str]] = {}
        for a in affected(before, target, catalog(), reftypes_of):
            found.setdefault(a.dataset, []).append(f"{a.reftype} {a.old} -> {a.new}")
        for pid in sorted(found):
            _p, obs, src, pipe, ver, _c, _i, _s = keyed[pid]
            out.items.append(Planned(pid, obs, src, pipe, ver, wanted,
                                     f"context {int(old)} -> {number}: " + "; ".join(found[pid])))
        if len(found) < len(group):
            out.notes.append(f"context {int(old)} -> {number}: {len(group) - len(found)} products choose "
                             "the same reference files; not reprocessed")
    return out


# -- ledger --------------------------------------------------------------------------------
def open_campaign(archive: Archive, planned: Plan, max_attempts: int = 3, timeout_s: float = 600.0
                  ) -> tuple[BulkCampaign, int]:
    """The campaign of this selection (made from the plan the first time); returns (it, jobs added)."""
    with archive.db.write() as session:
        campaign = session.scalar(select(BulkCampaign).where(BulkCampaign.selection == planned.selection))
        if campaign is not None:
            if campaign.state == CANCELLED:
                campaign.state, campaign.message = "running", "restarted after cancel"
                session.execute(update(Job).where(Job.campaign_id == campaign.id, Job.state == CANCELLED)
                                .values(state=QUEUED))
            return campaign, 0
        campaign = BulkCampaign(selection=planned.selection, target=planned.target, state="running",
                                max_attempts=max_attempts, timeout_s=timeout_s, created_at=now())
        session.add(campaign)
        session.flush()
        taken = {tuple(t) for t in session.execute(select(Job.obs_id, Job.pipeline, Job.pipeline_version,
                                                          Job.context))}
        added = 0
        for item in planned.items:
            if (item.obs_id, item.pipeline, item.version, item.context) in taken:
                continue  # another campaign already holds this unit of work
            session.add(Job(campaign_id=campaign.id, obs_id=item.obs_id, pipeline=item.pipeline,
                            pipeline_version=item.version, context=item.context, source_id=item.source_id,
                            replaces_id=item.product_id, why=item.why, priority=0, state=QUEUED,
                            attempts=0))
            added += 1
        session.add(Activity(at=now(), who=archive.who, what="campaign", obs_id=None,
                             why=f"bulk campaign {campaign.id} ({planned.target}): {added} jobs"))
        return campaign, added


def set_state(archive: Archive, campaign_id: int, state: str, message: str | None = None) -> None:
    with archive.db.write() as session:
        campaign = _campaign(session, campaign_id)
        if state == CANCELLED:
            session.execute(update(Job).where(Job.campaign_id == campaign_id, Job.state == QUEUED)
                            .values(state=CANCELLED, ended_at=now()))
        campaign.state, campaign.message = state, message


def retry_failed(archive: Archive, campaign_id: int) -> int:
    """Queue the failed jobs again (after the cause is fixed); returns how many."""
    with archive.db.write() as session:
        campaign = _campaign(session, campaign_id)
        done = session.execute(update(Job).where(Job.campaign_id == campaign_id, Job.state == FAILED)
                               .values(state=QUEUED, attempts=0, error=None, exit_code=None, worker=None))
        if done.rowcount and campaign.state in (REVIEWABLE, PAUSED):
            campaign.state = "running"
        return done.rowcount


def _campaign(session, campaign_id: int) -> BulkCampaign:
    campaign = session.get(BulkCampaign, campaign_id)
    if campaign is None:
        raise UsageError(f"no bulk campaign {campaign_id} (list them with `calpipe archive reprocess "
                         "status`)")
    return campaign


def settle(archive: Archive, campaign_id: int, accept: bool = False) -> str:
    """Reviewable once no job is queued or running; accepted (results current) if asked. Returns state."""
    with archive.db.write() as session:
        campaign = _campaign(session, campaign_id)
        busy = session.scalar(select(func.count()).select_from(Job).where(
            Job.campaign_id == campaign_id, Job.state.in_((QUEUED, RUNNING))))
        if busy or campaign.state in (ACCEPTED, CANCELLED, PAUSED):
            return campaign.state
        campaign.state = REVIEWABLE
        if accept:
            _accept(archive, session, campaign)
        return campaign.state


def accept(archive: Archive, campaign_id: int) -> int:
    with archive.db.write() as session:
        campaign = _campaign(session, campaign_id)
        if campaign.state != REVIEWABLE:
            raise UsageError(f"campaign {campaign_id} is {campaign.state}: only a reviewable campaign (every "
                             "job finished) can be accepted")
        return _accept(archive, session, campaign)


def _accept(archive: Archive, session, campaign: BulkCampaign) -> int:
    """One transaction: every done job's product current, the versions it replaces superseded."""
    jobs = session.scalars(select(Job).where(Job.campaign_id == campaign.id, Job.state == DONE)).all()
    for job in jobs:
        product = session.get(Product, job.product_id)
        older = session.scalars(select(Product).where(
            Product.obs_id == product.obs_id, Product.calib_level == product.calib_level,
            Product.state.in_(LIVE), Product.id != product.id)).all()
        for old in older:
            session.add(Activity(at=now(), who=archive.who, what="superseded", obs_id=old.obs_id,
                                 product_id=old.id, state_from=old.state, state_to=SUPERSEDED,
                                 why=f"bulk campaign {campaign.id} accepted"))
            old.state = SUPERSEDED
        before, product.state = product.state, CURRENT
        session.add(Activity(at=now(), who=archive.who, what="accepted", obs_id=product.obs_id,
                             product_id=product.id, state_from=before, state_to=CURRENT,
                             why=f"bulk campaign {campaign.id} ({campaign.target}): {job.why}"))
    campaign.state, campaign.accepted_at = ACCEPTED, now()
    return len(jobs)


# -- workers -------------------------------------------------------------------------------
def ingest_active(archive: Archive) -> bool:
    """True while an ingest holds an exposure: new downlinks go first."""
    with archive.db.read() as session:
        holders = session.scalars(select(Exposure.claimed_by).where(Exposure.claimed_by.is_not(None))).all()
    return any(claimant_alive(h) for h in holders)


def claim(archive: Archive, campaign_id: int, job_id: int | None = None) -> Job | None:
    """Take the next queued job (or job ``job_id``) of a running campaign for this process."""
    with archive.db.write() as session:
        campaign = session.get(BulkCampaign, campaign_id)
        if campaign is None or campaign.state != "running":
            return None
        query = select(Job).where(Job.campaign_id == campaign_id, Job.state == QUEUED)
        if job_id is not None:
            query = query.where(Job.id == job_id)
        job = session.scalar(query.order_by(Job.priority.desc(), Job.id).limit(1)
                             .with_for_update(skip_locked=True))
        if job is None:
            return None
        job.state, job.worker, job.attempts, job.started_at = RUNNING, me(), job.attempts + 1, now()
        job.ended_at = job.error = job.exit_code = None
        return job


_runners: dict[tuple[str, str], Any] = {}  # warm Runners of this worker process, per (release, context)


def _runner(archive: Archive, release: str, context: str):
    key = (release, context)
    if key not in _runners:
        from calpipe.core import api
        from calpipe.core.models.asdf_plugins import load_only_calpipe_plugins

        load_only_calpipe_plugins()
        _runners[key] = api.prepare(release, [], context=int(context) if context else None,
                                    refdata=archive.refdata, registry=archive.registry).runner
    return _runners[key]


def _unit(job: Job) -> list:
    return [Product.obs_id == job.obs_id, Product.pipeline == job.pipeline,
            Product.pipeline_version == job.pipeline_version, Product.context == job.context]


def execute(archive: Archive, job: Job) -> str:
    """Run one claimed job to done or failed (or back to queued); returns its state."""
    from calpipe.core.association import Group
    from calpipe.core.provenance import sha256_file
    from calpipe.core.runner import run_one

    from .catalog import catalog_row
    from .ingest import Report, publish

    existing = _published(archive, job)
    if existing is not None:
        return _finish_job(archive, job, DONE, product_id=existing)
    with archive.db.read() as session:
        source = session.get(Product, job.source_id)
    with archive.store.work_dir() as work:
        work = Path(work)
        given = archive.store.copy_out(source.sha256, work / "in" / source.filename)
        outcome = run_one(_runner(archive, f"{job.pipeline}@{job.pipeline_version}", job.context),
                          Group.of(given), work / "out", False)
        if outcome.error:
            science = outcome.exit_code in SCIENCE
            return _finish_job(archive, job, FAILED if science else None, error=outcome.error,
                               exit_code=outcome.exit_code)
        [out] = outcome.outputs
        row = catalog_row(out, sha256_file(out), out.stat().st_size, archive.selectors())
        try:
            product = publish(archive, out, row, source.exposure_id, source.sha256, REVIEW, Report(),
                              f"bulk campaign {job.campaign_id}: {job.why}")
        except IntegrityError:  # published by an earlier attempt after all
            product = None
        return _finish_job(archive, job, DONE, product_id=product.id if product else _published(archive, job))


def _published(archive: Archive, job: Job) -> int | None:
    """The product of this unit of work if one is wholly published (an earlier attempt's)."""
    with archive.db.read() as session:
        found = session.scalars(select(Product).where(*_unit(job), Product.state != FAILED)).all()
    for p in found:
        if p.state != PROCESSING:
            return p.id
        if not claimant_alive(p.claimed_by):  # a killed attempt left it pending: finish or drop it
            from .ingest import finish

            stored = archive.store.path(p.sha256)
            if stored.is_file():
                finish(archive, p.id, REVIEW, f"bulk campaign {job.campaign_id}: recovered")
                return p.id
            with archive.db.write() as session:
                session.delete(session.get(Product, p.id))
    return None


def _finish_job(archive: Archive, job: Job, state: str | None, product_id: int | None = None,
                error: str | None = None, exit_code: int | None = None) -> str:
    """Done, failed, or (``state`` None: an infrastructure failure) queued again while attempts remain."""
    with archive.db.write() as session:
        row = session.get(Job, job.id)
        campaign = session.get(BulkCampaign, row.campaign_id)
        if row.state != RUNNING or row.worker != job.worker:
            return row.state  # taken from us (timed out): the ledger already moved on
        if state is None:
            state = FAILED if row.attempts >= campaign.max_attempts else QUEUED
            if state == FAILED:
                error = f"{error} (after {row.attempts} attempts)"
        row.state, row.product_id, row.error, row.exit_code = state, product_id, error, exit_code
        row.ended_at = now()
        if state == QUEUED:
            row.worker = None
        return state


def requeue_lost(archive: Archive, campaign_id: int, timeout_s: float | None = None,
                 kill=None) -> list[str]:
    """Running jobs whose worker died (or exceeded the timeout, then killed with ``kill(worker)``):
    queued again while attempts remain, else failed. Returns what was done."""
    said = []
    with archive.db.read() as session:
        campaign = _campaign(session, campaign_id)
        running = session.scalars(select(Job).where(Job.campaign_id == campaign_id,
                                                    Job.state == RUNNING)).all()
    timeout_s = campaign.timeout_s if timeout_s is None else timeout_s
    for job in running:
        overdue = (now() - job.started_at).total_seconds() > timeout_s
        if claimant_alive(job.worker) and not overdue:
            continue
        reason = f"timed out after {timeout_s:g} s" if overdue and claimant_alive(job.worker) else \
            f"worker {job.worker} died"
        if overdue and kill is not None:
            kill(job.worker)
        with archive.db.write() as session:
            row = session.get(Job, job.id)
            if row.state != RUNNING or row.worker != job.worker:
                continue
            final = row.attempts >= campaign.max_attempts
            row.state = FAILED if final else QUEUED
            row.error = f"infrastructure: {reason}" + (f" (after {row.attempts} attempts)" if final else "")
            row.worker, row.ended_at = (row.worker if final else None), now()
        said.append(f"job {job.id} ({job.obs_id}): {reason}; {'failed' if final else 'queued again'}")
    return said


def worker_loop(root: str, db_url: str | None, refdata: str | None, campaign_id: int,
                parent: int | None = None) -> None:
    """A local worker process: claim, run, publish until the queue is empty or the campaign stops."""
    os.nice(10)
    archive = Archive.open(Path(root), db_url, refdata=Path(refdata) if refdata else None)
    try:
        while parent is None or os.getppid() == parent:  # a worker outlives no coordinator
            if ingest_active(archive):
                time.sleep(0.2)
                continue
            job = claim(archive, campaign_id)
            if job is None:
                return
            execute(archive, job)
    finally:
        archive.close()


def run_job(root: str, db_url: str | None, refdata: str | None, campaign_id: int, job_id: int) -> str:
    """A Dask task: claim job ``job_id`` and run it; a recomputed task finds it done and does nothing."""
    archive = _task_archive(root, db_url, refdata)
    while ingest_active(archive):
        time.sleep(0.2)
    job = claim(archive, campaign_id, job_id)
    if job is None:
        with archive.db.read() as session:
            return session.get(Job, job_id).state
    return execute(archive, job)


@functools.cache
def _task_archive(root: str, db_url: str | None, refdata: str | None) -> Archive:
    return Archive.open(Path(root), db_url, refdata=Path(refdata) if refdata else None)


# -- status --------------------------------------------------------------------------------
def status(archive: Archive, campaign_id: int | None = None) -> list[dict[str, Any]]:
    """Per campaign: counts by state, throughput (jobs/min), ETA, failures by message, workers."""
    out = []
    with archive.db.read() as session:
        query = select(BulkCampaign).order_by(BulkCampaign.id)
        if campaign_id is not None:
            query = query.where(BulkCampaign.id == campaign_id)
        campaigns = session.scalars(query).all()
        if campaign_id is not None and not campaigns:
            _campaign(session, campaign_id)
        for c in campaigns:
            counts = dict(session.execute(select(Job.state, func.count()).where(Job.campaign_id == c.id)
                                          .group_by(Job.state)).all())
            first, last = session.execute(select(func.min(Job.started_at), func.max(Job.ended_at)).where(
                Job.campaign_id == c.id, Job.state == DONE)).one()
            failures = Counter(session.scalars(select(Job.error).where(Job.campaign_id == c.id,
                                                                       Job.state == FAILED)).all())
            running = session.execute(select(Job.worker, Job.id, Job.obs_id, Job.started_at).where(
                Job.campaign_id == c.id, Job.state == RUNNING).order_by(Job.worker)).all()
            done = counts.get(DONE, 0)
            minutes = (last - first).total_seconds() / 60 if first and last and last > first else None
            rate = done / minutes if minutes else None
            left = counts.get(QUEUED, 0) + counts.get(RUNNING, 0)
            out.append({
                "campaign": c.id, "target": c.target, "state": c.state, "message": c.message,
                "selection": json.loads(c.selection),
                "counts": {s: counts.get(s, 0) for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)},
                "jobs": sum(counts.values()), "throughput_per_min": None if rate is None else round(rate, 2),
                "eta_s": None if not rate else round(left / rate * 60, 1),
                "failures": [{"message": m, "jobs": n} for m, n in failures.most_common()],
                "workers": [{"worker": w, "job": j, "obs_id": o, "since": s.isoformat(timespec="seconds")}
                            for w, j, o, s in running],
            })
    return out


def newest_campaign(archive: Archive, selection: str) -> int | None:
    with archive.db.read() as session:
        return session.scalar(select(BulkCampaign.id).where(BulkCampaign.selection == selection))


def pending_jobs(archive: Archive, campaign_id: int) -> list[int]:
    with archive.db.read() as session:
        return list(session.scalars(select(Job.id).where(Job.campaign_id == campaign_id, or_(
            Job.state == QUEUED, Job.state == RUNNING)).order_by(Job.priority.desc(), Job.id)))
