"""Bulk reprocessing: plan time on a large catalog, frames/s with 1 and 2 workers, ledger cost per job.

- ``plan``: a SQLite archive of N synthetic IRAC frames made by irac_bcd 1.0.0 (N raw rows and N
  Level 2 rows), then ``bulk.plan(--pipeline irac_bcd@1.1.0)`` timed (median of --repeat runs);
  target <= 10 s for 1,000,000 products.
- ``run``: F simulated IRAC frames archived as made by irac_bcd 1.0.0, reprocessed to 1.1.0 with
  the local pool and a Dask LocalCluster, 1 and 2 workers (interleaved, --repeat times, a fresh
  archive each time): frames/s and the 1 -> 2 worker scaling. Then the ledger cost per job: claim +
  find-published + mark-done on a campaign whose products all exist (what each job pays beyond
  its run and the publish of its file), and the publish cost (pending row, store, final row).

Prints figures; asserts nothing.

    python benchmarks/archive_reprocess.py plan [--rows N] [--repeat N]
    python benchmarks/archive_reprocess.py run [--frames N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from calpipe.archive import bulk
from calpipe.archive.directory import Archive
from calpipe.archive.tables import Job, Product


def fill(archive: Archive, n: int, chunk: int = 50_000) -> None:
    made = datetime(2026, 1, 1)
    for lo in range(0, n, chunk):
        raws, l2 = [], []
        for i in range(lo, min(n, lo + chunk)):
            obs, sha = f"SPITZER_I1_{i:08d}", hashlib.sha256(b"%d" % i).hexdigest()
            raws.append(dict(obs_id=obs, filename=f"{obs}_raw.fits", calib_level=1, state="raw", pipeline="",
                             pipeline_version="", context="", sha256=sha, made_at=made,
                             instrument_name="IRAC", proposal_id=str(i % 500)))
            l2.append(dict(obs_id=obs, filename=f"{obs}_bcd.fits", calib_level=2, state="sandbox",
                           pipeline="irac_bcd", pipeline_version="1.0.0", context="0002", input_sha256=sha,
                           sha256=hashlib.sha256(b"b%d" % i).hexdigest(), made_at=made,
                           instrument_name="IRAC", proposal_id=str(i % 500),
                           selection={"CHNLNUM": 1 + i % 4, "DATE-OBS": "2005-01-01T00:00:00"}))
        with archive.db.write() as session:
            session.execute(insert(Product), raws)
            session.execute(insert(Product), l2)


def bench_plan(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive.init(Path(tmp) / "archive")
        start = time.perf_counter()
        fill(archive, args.rows)
        filled = time.perf_counter() - start
        times, found = [], 0
        for _ in range(args.repeat):
            begin = time.perf_counter()
            found = len(bulk.plan(archive, pipeline="irac_bcd@1.1.0").items)
            times.append(time.perf_counter() - begin)
        archive.close()
    print(f"archive_reprocess plan: {args.rows:,} Level 2 products (+ {args.rows:,} raw rows) in SQLite, "
          f"filled in {filled:.0f} s; plan irac_bcd 1.0.0 -> 1.1.0: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s over {args.repeat} runs; {found:,} products planned (target <= 10 s)")


def archive_of(root: Path, raws: list[Path]) -> Archive:
    from calpipe.archive.ingest import Report, ingest_raw, make

    archive = Archive.init(root)
    report = Report()
    for raw in raws:
        exposure = ingest_raw(archive, raw, report)
        with archive.db.read() as s:
            source = s.scalar(select(Product).where(Product.exposure_id == exposure,
                                                    Product.calib_level == 1))
        make(archive, "irac_bcd", source, exposure, report, version="1.0.0")
    return archive


def bench_run(args) -> None:
    from calpipe.archive.executors import run_dask, run_local
    from calpipe.instruments.irac.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raws = [s.raw for s in simulate(tmp / "raw", channel=1, naor_frames=args.frames, seed=3,
                                        cosmic_rays=False)]
        template = archive_of(tmp / "template", raws)
        template.close()
        rates: dict[tuple[str, int], list[float]] = {}
        for rep in range(args.repeat):
            for executor in ("local", "dask"):
                for workers in (1, 2):
                    root = tmp / f"{executor}{workers}_{rep}"
                    shutil.copytree(tmp / "template", root)
                    archive = Archive.open(root)
                    campaign, _ = bulk.open_campaign(archive, bulk.plan(archive, pipeline="irac_bcd@1.1.0"))
                    begin = time.perf_counter()
                    if executor == "local":
                        state = run_local(archive, campaign.id, workers, say=lambda _: None)
                    else:
                        state = run_dask(archive, campaign.id, None, workers, say=lambda _: None)
                    seconds = time.perf_counter() - begin
                    assert state == "reviewable", state
                    rates.setdefault((executor, workers), []).append(args.frames / seconds)
                    if (executor, workers, rep) == ("local", 2, 0):
                        ledger = ledger_cost(archive)
                    archive.close()
                    shutil.rmtree(root)
    print(f"archive_reprocess run: {args.frames} IRAC frames, irac_bcd 1.0.0 -> 1.1.0, median of "
          f"{args.repeat} interleaved runs (wall time includes worker start-up)")
    for executor in ("local", "dask"):
        one, two = (statistics.median(rates[(executor, w)]) for w in (1, 2))
        print(f"  {executor:<5}: 1 worker {one:.2f} frames/s, 2 workers {two:.2f} frames/s, scaling "
              f"{two / one:.2f}x (target >= 1.8x)")
    print(f"  ledger per job (claim + find published + done, SQLite): {ledger:.2f} ms (target <= 5 ms)")


def ledger_cost(archive: Archive) -> float:
    """ms per job of the ledger alone: the same units queued again, each finding its product published."""
    with archive.db.write() as session:
        session.execute(Job.__table__.update().values(state="queued"))
        campaign = session.scalar(select(Job.campaign_id))
    n, begin = 0, time.perf_counter()
    while (job := bulk.claim(archive, campaign)) is not None:
        bulk.execute(archive, job)  # finds its product: no run, no publish
        n += 1
    return (time.perf_counter() - begin) * 1000 / max(n, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    r = sub.add_parser("run")
    r.add_argument("--frames", type=int, default=40)
    r.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    bench_plan(args) if args.what == "plan" else bench_run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
