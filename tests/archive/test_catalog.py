"""Catalog rows from headers, verify, and search (cone by HEALPix cells, time, filters, formats)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sqlalchemy import insert, select, update

from calpipe.archive.catalog import angular_distance, cone_ranges, hpx_cell, search
from calpipe.archive.directory import Archive
from calpipe.archive.ingest import ingest
from calpipe.archive.tables import OBSCORE, Product
from calpipe.core.cli.calpipe import main as calpipe

from .conftest import new_archive


@pytest.fixture(scope="module")
def archived(tmp_path_factory, module_db_url, nir_downlink):
    root = tmp_path_factory.mktemp("catalog") / "a"
    archive = new_archive(root, module_db_url)
    assert ingest(archive, nir_downlink.files).exit_code == 0
    return archive


def _cli(archive, *args):
    db = ["--db", archive.db.url] if archive.db.backend != "sqlite" else []
    return calpipe(["archive", *args, "--archive", str(archive.root), *db])


def test_rows_come_from_the_products_own_headers(archived, nir_downlink):
    from astropy.io import fits
    from astropy.time import Time

    with archived.db.read() as s:
        rows = s.scalars(select(Product).where(Product.pipeline == "nir_image2").order_by(Product.obs_id)).all()
    assert len(rows) == 2
    for row in rows:
        header = fits.getheader(archived.store.check(row.sha256))
        assert (row.pipeline, row.pipeline_version, row.context) == (header["PIPELINE"], header["PIPEVER"],
                                                                     header["REFCTX"])
        assert row.calib_level == header["DATALVL"] == 2
        assert row.t_min == pytest.approx(Time(header["DATE-OBS"]).mjd, abs=1e-9)
        assert row.instrument_name == header["INSTRUME"]
        assert row.selection["DETECTOR"] == header["DETECTOR"]
        assert row.run_id in " ".join(header["HISTORY"])
        assert row.s_region.startswith("POLYGON ICRS")
        assert angular_distance(row.s_ra, row.s_dec, header["RA_REF"], header["DEC_REF"]) < 5 / 3600


def test_verify_finds_no_difference_then_each_one_made(archived, tmp_path, capsys):
    assert _cli(archived, "verify") == 0
    assert "6 rows checked, 0 differences" in capsys.readouterr().out
    with archived.db.write() as s:
        row = s.scalars(select(Product).where(Product.pipeline == "nir_image2")).first()
        ra = row.s_ra
        s.execute(update(Product).where(Product.id == row.id).values(s_ra=ra + 0.5, proposal_id="X"))
    try:
        assert _cli(archived, "verify") == 3
        out = capsys.readouterr().out
        assert f"{row.filename} (row {row.id}): s_ra: catalog" in out
        assert "proposal_id: catalog 'X', file '00001'" in out
        assert "6 rows checked, 2 differences" in out
    finally:
        with archived.db.write() as s:
            s.execute(update(Product).where(Product.id == row.id).values(s_ra=ra, proposal_id="00001"))
    assert _cli(archived, "verify") == 0


def test_search_json_rows_are_keyed_by_obscore_names(archived, capsys):
    assert _cli(archived, "search", "--level", "2", "--pipeline", "nir_image2", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["obs_id"] for r in rows] == ["nir_00001_001_00001", "nir_00001_001_00002"]
    assert all(set(OBSCORE) <= set(r) for r in rows)
    assert {r["calib_level"] for r in rows} == {2}


def test_search_filters_by_instrument_program_state_and_time(archived, capsys):
    def count(*args):
        assert _cli(archived, "search", *args, "--format", "csv") == 0
        return len(capsys.readouterr().out.strip().splitlines()) - 1

    assert count() == 6
    assert count("--instrument", "nir") == 6
    assert count("--instrument", "irac") == 0
    assert count("--program", "00001", "--level", "1") == 2
    assert count("--state", "raw") == 2
    assert count("--state", "current") == 0
    # both exposures: DATE-OBS 2026-01-01T00:00:00, 0.31 s long
    assert count("--time", "2026-01-01T00:00:00.2/2026-01-01T00:00:01") == 6
    assert count("--time", "2025-12-01/2025-12-31T23:59:59") == 0
    assert count("--time", "2026-01-01T00:00:01/") == 0
    assert count("--time", f"/{61041.0 + 0.1 / 86400}") == 6
    assert count("--cone", "53.16,-27.78,0.01") == 6
    assert count("--cone", "53.36,-27.78,0.1") == 0


def _synthetic(rng, n):
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return [dict(obs_id=f"s{i}", filename=f"s{i}_cal.fits", calib_level=2, state="sandbox", pipeline="p",
                 pipeline_version="1", context="0001", s_ra=float(a), s_dec=float(d), hpx=hpx_cell(a, d),
                 t_min=60000.0 + i, t_max=60000.0 + i + 0.01, made_at=__import__("datetime").datetime(2026, 1, 1))
            for i, (a, d) in enumerate(zip(ra, dec, strict=True))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cone_search_returns_exactly_the_rows_within_the_radius(tmp_path, seed):
    archive = Archive.init(tmp_path / "a")
    rng = np.random.default_rng(seed)
    rows = _synthetic(rng, 4000)
    centres = [(10.0, 89.9), (359.95, 0.0), (0.0, -45.0)]  # the pole, the RA wrap, anywhere
    for ra, dec in centres:  # a cluster around each, so that the cones are not empty
        for k in range(50):
            a, d = (ra + rng.normal(0, 0.5)) % 360, float(np.clip(dec + rng.normal(0, 0.5), -90, 90))
            rows.append({**rows[0], "obs_id": f"c{ra}_{dec}_{k}", "filename": f"c{ra}_{dec}_{k}.fits",
                         "s_ra": a, "s_dec": d, "hpx": hpx_cell(a, d)})
    with archive.db.write() as s:
        s.execute(insert(Product), rows)
    for ra, dec in centres:
        for radius in (0.05, 0.7, 12.0):
            truth = {r["obs_id"] for r in rows if angular_distance(ra, dec, r["s_ra"], r["s_dec"]) <= radius}
            with archive.db.read() as s:
                found = {r.obs_id for r in search(s, cone=(ra, dec, radius))}
            assert found == truth, (ra, dec, radius)


@pytest.mark.parametrize("radius", [1e-4, 0.01, 1.0, 30.0])
def test_a_cone_needs_few_index_ranges(radius):
    assert 1 <= len(cone_ranges(120.0, -30.0, radius)) <= 64


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_verify_names_a_damaged_file(tmp_path, nir_downlink, capsys):
    archive = new_archive(tmp_path / "a", None)
    ingest(archive, [nir_downlink.raws[0]])
    with archive.db.read() as s:
        raw = s.scalars(select(Product).where(Product.calib_level == 1)).one()
    path = archive.store.path(raw.sha256)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(-10, 2)
        f.write(b"0123456789")
    assert _cli(archive, "verify") == 3
    out = capsys.readouterr().out
    assert str(path) in out and "no longer match" in out
    assert _cli(archive, "get", raw.obs_id, "--level", "1", "-o", str(tmp_path / "out")) == 4
    assert str(path) in capsys.readouterr().err


def test_verify_names_a_store_file_no_row_names(tmp_path, nir_downlink, capsys):
    archive = new_archive(tmp_path / "a", None)
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"left by an interrupted ingest")
    sha = archive.store.put(stray)
    assert _cli(archive, "verify") == 3
    assert f"{archive.store.path(sha)}: in the store but in no catalog row" in capsys.readouterr().out
