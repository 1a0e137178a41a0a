"""Executors of a bulk campaign: they only run work; the ledger (bulk.py) decides what is done.

- ``local`` (default, no service): N spawned worker processes that each claim
  jobs from the database until the queue is empty. The coordinator restarts a
  worker that died, re-queues its job and kills a worker whose job overran the
  campaign's timeout. Killed itself, its workers stop after their current job;
  running the coordinator again resumes.
- ``dask``: one task per job on a dask.distributed cluster (``--scheduler
  tcp://HOST:PORT``, else a LocalCluster of N worker processes). Each task
  claims its job by compare-and-swap, so a task Dask recomputes after a worker
  died finds the job done and publishes nothing. A scheduler that goes away
  pauses the campaign with a message saying so; ``resume`` continues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import time
from concurrent import futures

from .bulk import (
    PAUSED,
    pending_jobs,
    requeue_lost,
    run_job,
    set_state,
    settle,
    worker_loop,
)
from .directory import Archive, claimant_alive

POLL_S = 0.5


def _args(archive: Archive, campaign_id: int) -> tuple:
    return (str(archive.root.resolve()), archive.db.url if archive.db.backend != "sqlite" else None,
            str(archive.refdata) if archive.refdata else None, campaign_id)


def _state(archive: Archive, campaign_id: int) -> str:
    from .bulk import status

    return status(archive, campaign_id)[0]["state"]


def _kill(worker: str | None) -> None:
    host, _, pid = (worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def run_local(archive: Archive, campaign_id: int, workers: int = 2, accept: bool = False,
              say=print) -> str:
    """Run the campaign's queued jobs on ``workers`` local processes; returns the campaign's state."""
    spawn = multiprocessing.get_context("spawn")
    args = (*_args(archive, campaign_id), os.getpid())
    procs: list = []
    for line in requeue_lost(archive, campaign_id, kill=_kill):
        say(line)
    try:
        while True:
            for p in [p for p in procs if not p.is_alive()]:
                p.join()
                procs.remove(p)
                if p.exitcode:
                    say(f"worker {p.pid} ended with {p.exitcode}")
            for line in requeue_lost(archive, campaign_id, kill=_kill):
                say(line)
            if _state(archive, campaign_id) != "running":
                break
            queued = pending_jobs(archive, campaign_id)
            if not queued and not procs:
                break
            while queued and len(procs) < min(workers, len(queued)):
                p = spawn.Process(target=worker_loop, args=args, daemon=False)
                p.start()
                procs.append(p)
            time.sleep(POLL_S)
    finally:
        for p in procs:
            p.join()
    return settle(archive, campaign_id, accept)


def run_dask(archive: Archive, campaign_id: int, scheduler: str | None = None, workers: int = 2,
             accept: bool = False, say=print) -> str:
    """Run the campaign on a dask.distributed cluster; returns the campaign's state."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster or scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        set_state(archive, campaign_id, PAUSED, f"dask scheduler {scheduler} unreachable ({exc}); "
                  "campaign paused: start the scheduler, then `calpipe archive reprocess resume`")
        return PAUSED
    args = _args(archive, campaign_id)
    try:
        for line in requeue_lost(archive, campaign_id, kill=None):
            say(line)
        while True:
            jobs = pending_jobs(archive, campaign_id)
            if not jobs or _state(archive, campaign_id) != "running":
                break
            submitted = [client.submit(run_job, *args, job_id, key=f"calpipe-job-{job_id}-{time.time_ns()}",
                                     pure=False, retries=0) for job_id in jobs]
            for future in as_completed(submitted):
                try:
                    future.result()
                except (OSError, TimeoutError, asyncio.CancelledError, futures.CancelledError) as exc:
                    raise ConnectionError(str(exc) or "lost the connection to the scheduler") from exc
                except Exception as exc:  # a worker died under the task: the ledger re-queues it
                    if client.status not in ("running", "connecting"):
                        raise ConnectionError(f"client {client.status}") from exc
                    say(f"{future.key}: {type(exc).__name__}: {exc}")
            for line in requeue_lost(archive, campaign_id, kill=None):
                say(line)
            if any(claimant_alive(w["worker"]) for w in _running(archive, campaign_id)):
                time.sleep(POLL_S)
    except ConnectionError as exc:
        set_state(archive, campaign_id, PAUSED, f"dask scheduler {scheduler or 'LocalCluster'} went away "
                  f"({exc}); campaign paused: `calpipe archive reprocess resume` when it is back")
        return PAUSED
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return settle(archive, campaign_id, accept)


def _running(archive: Archive, campaign_id: int) -> list[dict]:
    from .bulk import status

    return status(archive, campaign_id)[0]["workers"]
