"""Faults: failing pipelines, unknown instruments, full disks, concurrent ingests, kill -9 mid-ingest."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from calpipe.archive.catalog import verify
from calpipe.archive.directory import Archive
from calpipe.archive.ingest import ingest
from calpipe.archive.tables import Activity, Exposure, Product, TelemetryFile
from calpipe.core.errors import CalpipeError
from calpipe.core.hookspecs import Processing, hookimpl
from calpipe.core.registry import Registry

from .conftest import new_archive


def _frame(path):
    from tests.level0.conftest import make_frame

    return make_frame(path / "tiny_00001_002_00001_uncal.fits")


def _snapshot(archive):
    """What a finished ingest leaves: every row, and every stored file accounted for by a row."""
    with archive.db.read() as s:
        products = sorted((p.obs_id, p.pipeline, p.calib_level, p.state, p.filename)
                          for p in s.scalars(select(Product)))
        shas = {p.sha256 for p in s.scalars(select(Product))} | {t.sha256 for t in s.scalars(select(TelemetryFile))}
        exposures = sorted((e.tag, e.state, e.claimed_by) for e in s.scalars(select(Exposure)))
        telemetry = s.scalar(select(func.count()).select_from(TelemetryFile))
    return {"products": products, "exposures": exposures, "telemetry": telemetry,
            "orphans": archive.store.addresses() - shas, "missing": shas - {None} - archive.store.addresses(),
            "tmp": sorted(p.name for p in archive.store.tmp.iterdir()),
            "work": sorted(p.name for p in (archive.root / "work").iterdir())}


class TinyIsCalibratedByTheWrongPipeline:
    """Declares a chain whose pipeline refuses the product: every run of it fails (exit 3)."""

    @hookimpl
    def calpipe_processing(self):
        return [Processing("tiny", ("generic_image2",))]


def test_an_instrument_no_plugin_processes_is_kept_raw_and_reported(tmp_path, db_url):
    archive = new_archive(tmp_path / "a", db_url)
    report = ingest(archive, [_frame(tmp_path)])
    assert report.exit_code == 3
    assert any("INSTRUME = 'TINY'" in m and "install" in m for _, m in report.problems)
    with archive.db.read() as s:
        assert [(p.calib_level, p.state) for p in s.scalars(select(Product))] == [(1, "raw")]
        assert [e.state for e in s.scalars(select(Exposure))] == ["unprocessed"]


def test_a_failing_pipeline_leaves_state_failed_with_its_message_retried_only_on_request(tmp_path, db_url):
    archive = new_archive(tmp_path / "a", db_url, Registry.load((TinyIsCalibratedByTheWrongPipeline(),)))
    frame = _frame(tmp_path)
    report = ingest(archive, [frame])
    assert report.exit_code == 3
    with archive.db.read() as s:
        [failed] = s.scalars(select(Product).where(Product.state == "failed")).all()
    assert (failed.pipeline, failed.exit_code, failed.sha256) == ("generic_image2", 3, None)
    assert "DATALVL = 1" in failed.message
    before = _snapshot(archive)
    again = ingest(archive, [frame])
    assert again.exit_code == 0 and _snapshot(archive) == before  # not retried by itself
    retried = ingest(archive, [frame], retry_failed=True)
    assert retried.exit_code == 3
    assert _snapshot(archive)["products"] == before["products"]  # the same unit of work, failed again
    with archive.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Activity).where(Activity.what == "failed")) == 2


def test_a_full_disk_registers_nothing_that_is_not_wholly_stored(tmp_path, db_url, nir_downlink, monkeypatch):
    from calpipe.archive.files import Store

    archive = new_archive(tmp_path / "a", db_url)
    put = Store.put

    def full_for_products(self, source):
        if str(source).endswith("_rate.fits"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return put(self, source)

    monkeypatch.setattr(Store, "put", full_for_products)
    with pytest.raises(CalpipeError, match=r"No space left on device.*nothing was registered"):
        ingest(archive, [nir_downlink.raws[0]])
    state = _snapshot(archive)
    assert [p[1:4] for p in state["products"]] == [("", 1, "raw")]
    assert state["orphans"] == set() and state["missing"] == set()
    monkeypatch.setattr(Store, "put", put)
    assert ingest(archive, [nir_downlink.raws[0]]).exit_code == 0
    assert verify(archive)[1] == []


def _ingest_process(archive: Archive, files, db_url):
    db = ["--db", db_url] if db_url else []
    return subprocess.Popen([sys.executable, "-m", "calpipe.core.cli.calpipe", "archive", "ingest",
                             *map(str, files), "--archive", str(archive.root), *db],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_processes_ingesting_overlapping_downlinks_at_once(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    f1, f2, f3 = nir_downlink.files
    procs = [_ingest_process(archive, [f1, f2], db_url), _ingest_process(archive, [f3, f2], db_url)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    state = _snapshot(archive)
    assert state["telemetry"] == 3
    assert [e[1:] for e in state["exposures"]] == [("processed", None)] * 2
    assert len(state["products"]) == len(set(state["products"])) == 6
    assert state["orphans"] == set() and state["missing"] == set()


@pytest.mark.parametrize("delay", [3.0, 6.0, 9.0])
def test_kill_9_during_ingest_then_a_rerun_completes_it(tmp_path, nir_downlink, delay):
    reference = new_archive(tmp_path / "ref", None)
    ingest(reference, nir_downlink.files)
    expected = _snapshot(reference)
    archive = new_archive(tmp_path / "a", None)
    proc = _ingest_process(archive, nir_downlink.files, None)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    report = ingest(archive, nir_downlink.files)
    assert report.exit_code == 0, report.lines
    state = _snapshot(archive)
    for key in ("products", "exposures", "telemetry", "orphans", "missing", "tmp", "work"):
        assert state[key] == expected[key], key
    assert verify(archive)[1] == []
