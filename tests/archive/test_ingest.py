"""Ingest: telemetry kept, exposures linked, complete ones extracted and processed, the rest waiting."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from calpipe.archive.ingest import ingest
from calpipe.archive.tables import Activity, Exposure, Product, TelemetryFile, exposure_telemetry
from calpipe.core.io import open_product
from calpipe.level0.decode import read_telemetry

from .conftest import new_archive

TAGS = ["00001:001:00001", "00001:001:00002"]


def _counts(archive):
    with archive.db.read() as s:
        return {t.__name__: s.scalar(select(func.count()).select_from(t))
                for t in (TelemetryFile, Exposure, Product, Activity)} | {
            "links": s.scalar(select(func.count()).select_from(exposure_telemetry)),
            "files": len(archive.store.addresses())}


def _states(archive):
    with archive.db.read() as s:
        return {e.tag: e.state for e in s.scalars(select(Exposure))}


def test_a_split_exposure_waits_then_completes_on_a_later_downlink(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    first, *rest = nir_downlink.files
    report = ingest(archive, [first])
    assert report.exit_code == 0
    assert _states(archive) == {TAGS[0]: "incomplete"}
    assert report.registered == []
    report = ingest(archive, rest)
    assert report.exit_code == 0, report.lines
    assert _states(archive) == dict.fromkeys(TAGS, "processed")
    with archive.db.read() as s:
        products = s.scalars(select(Product).order_by(Product.id)).all()
    by_level = sorted((p.obs_id, p.calib_level, p.pipeline, p.state) for p in products)
    expected = []
    for raw in nir_downlink.raws:
        obs = raw.name.removesuffix("_uncal.fits")
        expected += [(obs, 1, "", "raw"), (obs, 2, "nir_detector1", "sandbox"), (obs, 2, "nir_image2", "sandbox")]
    assert by_level == sorted(expected)


def test_the_extracted_raw_product_has_the_bytes_that_were_sent(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    ingest(archive, nir_downlink.files)
    with archive.db.read() as s:
        raws = s.scalars(select(Product).where(Product.calib_level == 1).order_by(Product.obs_id)).all()
    for row, sent in zip(raws, nir_downlink.raws, strict=True):
        got, orig = open_product(archive.store.check(row.sha256)), open_product(sent)
        assert row.filename == sent.name
        assert got.data.tobytes() == orig.data.tobytes()


def test_telemetry_and_exposures_are_linked_many_to_many(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    ingest(archive, nir_downlink.files)
    expected = {(f.name, str(p.tag)) for f in nir_downlink.files for p in read_telemetry(f).packets if p.tag}
    with archive.db.read() as s:
        links = {(t.name, e.tag) for e in s.scalars(select(Exposure)) for t in e.telemetry}
    assert links == expected
    assert len({name for name, _ in links if (name, TAGS[0]) in links and (name, TAGS[1]) in links}) >= 1


def test_ingesting_the_same_files_again_changes_nothing(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    ingest(archive, nir_downlink.files)
    before = _counts(archive)
    report = ingest(archive, list(reversed(nir_downlink.files)))
    assert report.exit_code == 0 and report.registered == []
    assert _counts(archive) == before


def test_a_file_that_is_not_telemetry_is_reported_and_the_rest_ingested(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    junk = tmp_path / "junk.pkt"
    junk.write_bytes(b"\x07" * 333)
    report = ingest(archive, [junk, *nir_downlink.files])
    assert report.exit_code == 3
    assert any("junk.pkt" in m for _, m in report.problems)
    assert _states(archive) == dict.fromkeys(TAGS, "processed")
    with archive.db.read() as s:
        assert "junk.pkt" not in {t.name for t in s.scalars(select(TelemetryFile))}


def test_a_raw_fits_product_is_ingested_directly_and_only_once(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    report = ingest(archive, [nir_downlink.raws[0]])
    assert report.exit_code == 0, report.lines
    assert report.registered == [nir_downlink.raws[0].name, *(nir_downlink.raws[0].name.replace(
        "_uncal", s) for s in ("_rate", "_cal"))]
    before = _counts(archive)
    assert ingest(archive, [nir_downlink.raws[0]]).registered == []
    assert _counts(archive) == before


def test_a_raw_product_with_other_bytes_under_a_known_name_is_refused(tmp_path, db_url, nir_downlink):
    archive = new_archive(tmp_path / "a", db_url)
    ingest(archive, [nir_downlink.raws[0]])
    other = tmp_path / "other" / nir_downlink.raws[0].name
    other.parent.mkdir()
    shutil.copy(nir_downlink.raws[1], other)  # another exposure's bytes under the first one's name
    with open(other, "r+b") as f:  # FILENAME keyword decides the obs id: make it the first one's
        text = f.read(2880 * 4)
        f.seek(0)
        f.write(text.replace(nir_downlink.raws[1].name.encode(), nir_downlink.raws[0].name.encode()))
    report = ingest(archive, [other])
    assert report.exit_code == 3
    assert any("already archived with other bytes" in m for _, m in report.problems)


@pytest.mark.parametrize("level", [2])
def test_a_product_of_another_level_is_refused(tmp_path, db_url, nir_downlink, level):
    archive = new_archive(tmp_path / "a", db_url)
    ingest(archive, [nir_downlink.raws[0]])
    with archive.db.read() as s:
        rate = s.scalars(select(Product).where(Product.calib_level == level)).first()
    copy = archive.store.copy_out(rate.sha256, tmp_path / "x" / rate.filename)
    report = ingest(archive, [copy])
    assert report.exit_code == 3
    assert any(f"DATALVL = {level}" in m for _, m in report.problems)
