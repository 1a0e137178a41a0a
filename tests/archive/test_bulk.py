"""Bulk reprocessing: plans (release and context), the ledger, workers killed, timeouts, status."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from sqlalchemy import func, select

from calpipe.archive import bulk
from calpipe.archive.directory import Archive, pid_alive
from calpipe.archive.executors import run_local
from calpipe.archive.ingest import Report, ingest, ingest_raw, make
from calpipe.archive.tables import Job, Product
from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry

from .conftest import new_archive


@pytest.fixture(scope="module")
def irac_raws(tmp_path_factory):
    from calpipe.instruments.irac.simulate import simulate

    root = tmp_path_factory.mktemp("bulk_irac")
    return [s.raw for s in simulate(root, channel=1, naor_frames=6, seed=21, cosmic_rays=False)]


def irac_archive(root: Path, url, raws) -> Archive:
    """IRAC frames archived as made by irac_bcd 1.0.0 (state sandbox), as before release 1.1.0."""
    archive = new_archive(root, url)
    report = Report()
    for raw in raws:
        exposure = ingest_raw(archive, raw, report)
        with archive.db.read() as s:
            source = s.scalar(select(Product).where(Product.exposure_id == exposure, Product.calib_level == 1))
        assert make(archive, "irac_bcd", source, exposure, report, version="1.0.0") is not None
    return archive


def _products(archive, **where):
    with archive.db.read() as s:
        query = select(Product).where(*(getattr(Product, k) == v for k, v in where.items()))
        return s.scalars(query.order_by(Product.obs_id)).all()


def _arrays(archive, product):
    with fits.open(archive.store.check(product.sha256)) as hdul:
        return {e: hdul[e].data.copy() for e in ("SCI", "ERR", "DQ")}


def test_a_release_plan_lists_every_product_whose_running_steps_differ_and_runs_nothing(tmp_path, db_url,
                                                                                          irac_raws):
    archive = irac_archive(tmp_path / "a", db_url, irac_raws)
    before = len(_products(archive))
    found = bulk.plan(archive, pipeline="irac_bcd@1.1.0")
    assert sorted(i.obs_id for i in found.items) == sorted(p.obs_id for p in _products(archive,
                                                                                        calib_level=2))
    assert all("step assign_wcs (assign_wcs 1.0.0) added" in i.why for i in found.items)
    assert len(_products(archive)) == before  # nothing made
    assert bulk.plan(archive, pipeline="irac_bcd@1.0.0").items == []  # already made by that release
    assert bulk.plan(archive, pipeline="irac_bcd@1.1.0", instrument="MIPS").items == []


def test_steps_that_differ_only_in_a_skipped_step_or_not_at_all_plan_nothing():
    registry = get_registry()
    old, new = resolve("irac_bcd@1.0.0", registry), resolve("irac_bcd@1.1.0", registry)
    assert bulk.step_differences(old, old) == []
    assert bulk.step_differences(old, new) == ["step assign_wcs (assign_wcs 1.0.0) added"]
    [wcs] = [s for s in new.steps if s.id == "assign_wcs"]
    wcs.skip = True
    assert bulk.step_differences(old, new) == []  # a step that does not run changes nothing
    wcs.skip = False
    changed = resolve("irac_bcd@1.1.0", registry)
    [step] = [s for s in changed.steps if s.id == "assign_wcs"]
    step.params = step.params.model_copy(update={"pixel_scale_arcsec": 1.2})
    assert bulk.step_differences(new, changed) == ["step assign_wcs: pixel_scale_arcsec 1.22 -> 1.2"]


def test_the_reprocess_key_is_accepted_and_changes_no_definition_sha256(tmp_path):
    from calpipe.instruments.irac.plugin import __file__ as plugin

    text = (Path(plugin).parent / "pipelines" / "irac_bcd-1.1.0.yaml").read_text()
    plain, declared = tmp_path / "plain.yaml", tmp_path / "declared.yaml"
    plain.write_text(text)
    declared.write_text(text + "reprocess: {policy: none, reason: documentation only}\n")
    registry = get_registry()
    assert resolve(str(declared), registry).sha256() == resolve(str(plain), registry).sha256()
    assert bulk.reprocess_policy(resolve(str(declared), registry)) == {"policy": "none",
                                                                       "reason": "documentation only"}


def test_a_release_declaring_reprocess_none_plans_nothing_unless_forced(tmp_path, irac_raws, monkeypatch):
    archive = irac_archive(tmp_path / "a", None, irac_raws[:2])
    monkeypatch.setattr(bulk, "reprocess_policy", lambda _: {"policy": "none", "reason": "docs only"})
    assert bulk.plan(archive, pipeline="irac_bcd@1.1.0").items == []
    assert len(bulk.plan(archive, pipeline="irac_bcd@1.1.0", force=True).items) == 2


def test_a_context_plan_takes_only_products_whose_pipeline_uses_a_changed_reftype(tmp_path, db_url,
                                                                                nir_downlink):
    from calpipe.refdata.builtin import init
    from calpipe.refdata.store import Store
    from tests.archive.test_retrieve import _publish_flat

    store = Store(tmp_path / "refdata" / "store")
    init(store, get_registry(), upto=2)
    archive = new_archive(tmp_path / "a", db_url)
    archive.refdata = store.root
    assert ingest(archive, nir_downlink.raws).exit_code == 0
    number = _publish_flat(store, 1.2).number  # within the range a nir flat may hold
    found = bulk.plan(archive, context=number)
    image2 = [p for p in _products(archive, pipeline="nir_image2")]
    assert sorted(i.product_id for i in found.items) == sorted(p.id for p in image2)  # not detector1
    assert all("flat" in i.why for i in found.items)
    assert bulk.plan(archive, context=int(image2[0].context)).items == []  # its own context: nothing


def test_a_campaign_runs_once_becomes_reviewable_then_current_only_when_accepted(tmp_path, db_url, irac_raws):
    archive = irac_archive(tmp_path / "a", db_url, irac_raws[:3])
    old = {p.obs_id: p.id for p in _products(archive, calib_level=2)}
    campaign, added = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    assert added == 3
    assert run_local(archive, campaign.id, workers=2, say=lambda _: None) == "reviewable"
    made = _products(archive, pipeline_version="1.1.0")
    assert sorted(p.state for p in made) == ["review"] * 3
    assert {p.state for p in _products(archive, pipeline_version="1.0.0")} == {"sandbox"}  # still served
    again, added = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    assert (again.id, added) == (campaign.id, 0)
    assert run_local(archive, campaign.id, workers=2, say=lambda _: None) == "reviewable"
    assert len(_products(archive, pipeline_version="1.1.0")) == 3  # nothing twice
    assert bulk.accept(archive, campaign.id) == 3
    assert {p.state for p in _products(archive, pipeline_version="1.1.0")} == {"current"}
    assert {p.state for p in _products(archive, pipeline_version="1.0.0")} == {"superseded"}
    with archive.db.read() as s:
        assert sorted(s.scalars(select(Job.replaces_id))) == sorted(old.values())
    assert bulk.plan(archive, pipeline="irac_bcd@1.1.0").items == []  # accepted: nothing left to do


def test_science_failures_are_kept_with_their_message_and_not_retried(tmp_path, irac_raws):
    archive = irac_archive(tmp_path / "a", None, irac_raws[:2])
    found = bulk.plan(archive, pipeline="irac_bcd@1.1.0")
    found.items = [bulk.Planned(i.product_id, i.obs_id, i.source_id, i.pipeline, i.version, "0099", i.why)
                   for i in found.items]  # a context no store holds: a reference-data error, exit 4
    campaign, _ = bulk.open_campaign(archive, found)
    assert run_local(archive, campaign.id, workers=1, say=lambda _: None) == "reviewable"
    [state] = bulk.status(archive, campaign.id)
    assert state["counts"]["failed"] == 2
    [failure] = state["failures"]
    assert failure["jobs"] == 2 and "99" in failure["message"]
    with archive.db.read() as s:
        assert {(j.attempts, j.exit_code) for j in s.scalars(select(Job))} == {(1, 4)}


def test_a_hung_job_is_timed_out_killed_and_retried_up_to_the_limit(tmp_path, irac_raws):
    archive = irac_archive(tmp_path / "a", None, irac_raws[:1])
    campaign, _ = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"),
                                     max_attempts=2, timeout_s=0.3)  # shorter than any run of the job
    said = []
    assert run_local(archive, campaign.id, workers=1, say=said.append) == "reviewable"
    with archive.db.read() as s:
        [job] = s.scalars(select(Job)).all()
    assert (job.state, job.attempts) == ("failed", 2)
    assert job.error == "infrastructure: timed out after 0.3 s (after 2 attempts)"
    assert sum("timed out" in line for line in said) == 2
    assert _products(archive, pipeline_version="1.1.0", state="review") == []


def _coordinator(archive: Archive, env) -> subprocess.Popen:
    db = [] if archive.db.backend == "sqlite" else ["--db", archive.db.url]
    return subprocess.Popen([sys.executable, "-m", "calpipe.core.cli.calpipe", "archive", "reprocess", "start",
                             "--archive", str(archive.root), *db, "--pipeline", "irac_bcd@1.1.0", "-j", "2",
                             "--max-attempts", "10"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def run_with_kills(archive: Archive, worker_kills: int, coordinator_kills: int, seed: int) -> dict:
    """The campaign run by real coordinator processes while workers and coordinators are kill -9'd."""
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    kills = {"worker": 0, "coordinator": 0}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        coordinator = _coordinator(archive, env)
        while coordinator.poll() is None:
            time.sleep(rng.uniform(0.2, 0.6))  # faster than jobs finish, on an idle machine too
            workers = [w for w in _children(coordinator.pid) if w != coordinator.pid]
            if kills["worker"] < worker_kills and workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills["worker"] += 1
            elif kills["coordinator"] < coordinator_kills and coordinator.poll() is None:
                orphans = workers
                coordinator.kill()
                coordinator.wait()
                kills["coordinator"] += 1
                for w in orphans:  # they stop after their current job
                    while pid_alive(w):
                        time.sleep(0.2)
                break
        if coordinator.poll() is not None and coordinator.returncode == 0 and \
                bulk.status(archive)[0]["state"] == "reviewable":
            return kills
    raise AssertionError(f"campaign not finished after {kills}")


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_workers_and_coordinators_lose_nothing_and_duplicate_nothing(tmp_path, irac_raws, seed, db_url):
    if db_url is not None and seed == 2:
        pytest.skip("PostgreSQL: one seed keeps the suite short")
    clean = irac_archive(tmp_path / "clean", None, irac_raws)
    campaign, _ = bulk.open_campaign(clean, bulk.plan(clean, pipeline="irac_bcd@1.1.0"))
    run_local(clean, campaign.id, workers=2, say=lambda _: None)
    archive = irac_archive(tmp_path / "faults", db_url, irac_raws)
    kills = run_with_kills(archive, worker_kills=4, coordinator_kills=2, seed=seed)
    assert kills == {"worker": 4, "coordinator": 2}
    _check_against(archive, clean)


def _check_against(archive: Archive, clean: Archive) -> None:
    [state] = bulk.status(archive)
    assert state["counts"]["done"] == state["jobs"] == len(_products(clean, pipeline_version="1.1.0"))
    made = _products(archive, pipeline_version="1.1.0")
    assert len(made) == len({p.obs_id for p in made}) == state["jobs"]  # no duplicate rows
    assert {p.state for p in made} == {"review"}
    with archive.db.read() as s:
        assert s.scalar(select(func.count(func.distinct(Job.product_id)))) == state["jobs"]
    shas = {p.sha256 for p in _products(archive)}
    assert archive.store.addresses() == shas  # no orphan file, no missing one
    for a, b in zip(made, _products(clean, pipeline_version="1.1.0"), strict=True):
        assert a.obs_id == b.obs_id
        for ext, values in _arrays(archive, a).items():
            np.testing.assert_array_equal(values, _arrays(clean, b)[ext], err_msg=f"{a.obs_id} {ext}")


def test_status_reports_counts_throughput_eta_and_json(tmp_path, irac_raws, capsys):
    from calpipe.core.cli.calpipe import main as calpipe

    archive = irac_archive(tmp_path / "a", None, irac_raws[:2])
    assert calpipe(["archive", "reprocess", "plan", "--archive", str(archive.root), "--pipeline",
                    "irac_bcd@1.1.0"]) == 0
    assert "2 product(s) to reprocess for irac_bcd@1.1.0" in capsys.readouterr().out
    assert calpipe(["archive", "reprocess", "start", "--archive", str(archive.root), "--pipeline",
                    "irac_bcd@1.1.0", "-j", "1", "--accept"]) == 0
    capsys.readouterr()
    assert calpipe(["archive", "reprocess", "status", "--archive", str(archive.root), "--format",
                    "json"]) == 0
    [state] = json.loads(capsys.readouterr().out)
    assert state["state"] == "accepted"
    assert state["counts"] == {"queued": 0, "running": 0, "done": 2, "failed": 0, "cancelled": 0}
    assert state["throughput_per_min"] > 0 and state["eta_s"] == 0
    assert calpipe(["archive", "reprocess", "start", "--archive", str(archive.root), "--pipeline",
                    "irac_bcd@1.1.0"]) == 0
    assert "already planned, accepted" in capsys.readouterr().out
    assert len(_products(archive, pipeline_version="1.1.0")) == 2


def test_dask_local_cluster_runs_the_campaign_like_the_local_pool(tmp_path, irac_raws):
    pytest.importorskip("distributed")
    from calpipe.archive.executors import run_dask

    clean = irac_archive(tmp_path / "clean", None, irac_raws[:2])
    campaign, _ = bulk.open_campaign(clean, bulk.plan(clean, pipeline="irac_bcd@1.1.0"))
    run_local(clean, campaign.id, workers=1, say=lambda _: None)
    archive = irac_archive(tmp_path / "dask", None, irac_raws[:2])
    campaign, _ = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    assert run_dask(archive, campaign.id, None, workers=2, say=lambda _: None) == "reviewable"
    _check_against(archive, clean)


def test_an_unreachable_dask_scheduler_pauses_the_campaign_with_a_clear_status(tmp_path, irac_raws):
    pytest.importorskip("distributed")
    from calpipe.archive.executors import run_dask

    archive = irac_archive(tmp_path / "a", None, irac_raws[:1])
    campaign, _ = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    assert run_dask(archive, campaign.id, "tcp://127.0.0.1:9", say=lambda _: None) == "paused"
    [state] = bulk.status(archive, campaign.id)
    assert state["state"] == "paused" and "tcp://127.0.0.1:9 unreachable" in state["message"]
    assert "resume" in state["message"] and state["counts"]["queued"] == 1


@pytest.mark.slow
def test_the_issue_counts_200_jobs_20_worker_kills_5_coordinator_kills(tmp_path, irac_raws):
    from calpipe.instruments.irac.simulate import simulate

    raws = [s.raw for s in simulate(tmp_path / "raw", channel=1, naor_frames=200, seed=5, cosmic_rays=False)]
    clean = irac_archive(tmp_path / "clean", None, raws)
    campaign, _ = bulk.open_campaign(clean, bulk.plan(clean, pipeline="irac_bcd@1.1.0"))
    run_local(clean, campaign.id, workers=2, say=lambda _: None)
    archive = irac_archive(tmp_path / "faults", None, raws)
    assert run_with_kills(archive, worker_kills=20, coordinator_kills=5, seed=7) == {"worker": 20,
                                                                                  "coordinator": 5}
    _check_against(archive, clean)


def test_new_downlinks_are_processed_before_bulk_jobs_and_nothing_of_either_is_lost(tmp_path, irac_raws,
                                                                                   nir_downlink):
    from calpipe.archive.directory import now

    archive = irac_archive(tmp_path / "a", None, irac_raws)
    bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    coordinator = _coordinator(archive, env)
    while not bulk.status(archive)[0]["workers"]:  # the bulk campaign is saturating the workers
        time.sleep(0.1)
    start = now()
    assert ingest(archive, nir_downlink.raws[:1]).exit_code == 0
    end = now()
    assert coordinator.wait(timeout=600) == 0
    with archive.db.read() as s:
        jobs = s.scalars(select(Job)).all()
        made = s.scalars(select(Product).where(Product.pipeline == "nir_image2")).all()
    assert [p.state for p in made] == ["sandbox"]  # the new exposure processed to Level 2
    assert {j.state for j in jobs} == {"done"} and len(jobs) == len(irac_raws)  # and every bulk job
    # no bulk job started while the new data were processed (after the raw product's registration)
    claimed_during = [j.id for j in jobs if start + _S < j.started_at < end]
    assert claimed_during == []
    assert max(j.ended_at for j in jobs) > end  # the new data finished first


_S = __import__("datetime").timedelta(seconds=1)


def test_the_ledger_migration_upgrades_from_the_previous_revision_and_back(tmp_path):
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from calpipe.archive.db import Database, database_url

    db = Database(database_url(tmp_path, None))
    config = db._alembic()
    previous = ScriptDirectory.from_config(config).get_revision("0004").down_revision
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, previous)
    assert "job" not in inspect(db.engine).get_table_names()
    db.upgrade()
    assert {"job", "bulk_campaign"} <= set(inspect(db.engine).get_table_names())
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, previous)
    assert "job" not in inspect(db.engine).get_table_names()


def test_a_dask_scheduler_that_goes_away_pauses_the_campaign_and_resume_finishes_it(tmp_path, irac_raws):
    pytest.importorskip("distributed")
    import socket
    import threading

    from calpipe.archive.executors import run_dask

    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}

    def cluster():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        address = f"tcp://127.0.0.1:{port}"
        scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                      "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)
        return address, scheduler, worker

    archive = irac_archive(tmp_path / "a", None, irac_raws)
    campaign, _ = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
    address, scheduler, worker = cluster()
    result = {}
    thread = threading.Thread(target=lambda: result.update(state=run_dask(archive, campaign.id, address,
                                                                          say=lambda _: None)))
    thread.start()
    while bulk.status(archive, campaign.id)[0]["counts"]["done"] < 1:
        time.sleep(0.2)
    scheduler.kill()
    thread.join(timeout=120)
    assert not thread.is_alive()
    worker.kill()
    worker.wait()
    scheduler.wait()
    [state] = bulk.status(archive, campaign.id)
    assert (result["state"], state["state"]) == ("paused", "paused")
    assert "went away" in state["message"] and "resume" in state["message"]
    assert state["counts"]["done"] < len(irac_raws)
    address, scheduler, worker = cluster()
    try:
        bulk.set_state(archive, campaign.id, "running")  # what `reprocess resume` does
        assert run_dask(archive, campaign.id, address, say=lambda _: None) == "reviewable"
    finally:
        worker.kill()
        scheduler.kill()
    [state] = bulk.status(archive, campaign.id)
    assert state["counts"]["done"] == len(irac_raws)
    assert len(_products(archive, pipeline_version="1.1.0")) == len(irac_raws)
