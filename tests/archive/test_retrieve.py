"""Retrieval as archived, latest (made on the fly and kept) and pinned (bit-identical), and history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from calpipe.archive.ingest import ingest
from calpipe.archive.retrieve import get, history
from calpipe.archive.tables import Product
from calpipe.core.api import run
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.errors import InputDataError, UsageError
from calpipe.core.io import open_product, write_atomic
from calpipe.core.provenance import sha256_file
from calpipe.core.registry import get_registry
from calpipe.refdata.builtin import init
from calpipe.refdata.store import Store

from .conftest import new_archive

OBS = "nir_00001_001_00001"


@pytest.fixture(scope="module")
def contexts_1_2(tmp_path_factory):
    """A reference store holding built-in contexts 1 and 2 (built once; tests take copies)."""
    root = tmp_path_factory.mktemp("refdata") / "store"
    init(Store(root), get_registry(), upto=2)
    return root


@pytest.fixture
def nir_archive(tmp_path, db_url, nir_downlink, contexts_1_2):
    """One NIR exposure ingested, with a private copy of a reference store of contexts 1 and 2."""
    refdata = Path(shutil.copytree(contexts_1_2, tmp_path / "refdata"))
    archive = new_archive(tmp_path / "a", db_url)
    archive.refdata = refdata
    assert ingest(archive, [nir_downlink.raws[0]]).exit_code == 0
    return archive


def _rows(archive):
    with archive.db.read() as s:
        return s.scalar(select(func.count()).select_from(Product))


def _publish_flat(store: Store, factor: float):
    """A NIR flat ``factor`` times the built-in one, published as a new context."""
    rule = next(r for r in store.load(2).files().values() if r.name.startswith("nir_") and "_flat_" in r.name)
    old = open_product(store.file_path(rule.sha256))
    new = type(old)(data=old.data * factor, err=old.err, dq=old.dq)
    new.meta.reftype, new.meta.useafter = old.meta.reftype, old.meta.useafter
    new.meta.instrument.name, new.meta.instrument.detector = old.meta.instrument.name, old.meta.instrument.detector
    path = write_atomic(new, store.root.parent / "staged" / rule.name.replace(".fits", "_x2.fits"))
    store.add(path, get_registry().reftypes)
    return store.publish("flat doubled", "tester", get_registry().reftypes)


def test_as_archived_is_the_stored_sandbox_product_byte_for_byte(nir_archive, tmp_path):
    path, row, _ = get(nir_archive, OBS, tmp_path / "out")
    assert (row.pipeline, row.state, row.calib_level) == ("nir_image2", "sandbox", 2)
    assert sha256_file(path) == row.sha256
    raw, raw_row, _ = get(nir_archive, OBS, tmp_path / "raw", level=1)
    assert raw_row.state == "raw" and raw.name == f"{OBS}_uncal.fits"


def test_latest_is_served_from_the_store_when_it_exists(nir_archive, tmp_path):
    before = _rows(nir_archive)
    _, archived, _ = get(nir_archive, OBS, tmp_path / "a")
    _, latest, _ = get(nir_archive, OBS, tmp_path / "b", mode="latest")
    assert latest.id == archived.id
    assert _rows(nir_archive) == before


@pytest.mark.parametrize("factor", [1.25])  # a flat stays a flat (median 0.5..1.5)
def test_latest_with_a_new_context_is_made_on_the_fly_kept_and_then_served(nir_archive, tmp_path, factor):
    store = Store(nir_archive.refdata)
    context = _publish_flat(store, factor)
    archived_path, archived, _ = get(nir_archive, OBS, tmp_path / "a")
    path, latest, _ = get(nir_archive, OBS, tmp_path / "b", mode="latest")
    assert (latest.state, latest.context, latest.pipeline) == ("on-demand", context.name, "nir_image2")
    assert latest.sha256 != archived.sha256 and sha256_file(path) == latest.sha256
    old, new = open_product(archived_path), open_product(path)
    good = (old.dq & 1) == 0
    assert new.data[good] == pytest.approx(old.data[good] / factor, rel=1e-5)
    rows = _rows(nir_archive)
    _, again, _ = get(nir_archive, OBS, tmp_path / "c", mode="latest")
    assert again.id == latest.id and _rows(nir_archive) == rows
    _, still, _ = get(nir_archive, OBS, tmp_path / "d")
    assert still.id == archived.id  # on-demand versions do not replace what is archived


def test_pinned_to_another_release_is_bit_identical_to_what_that_release_makes(tmp_path, db_url):
    from calpipe.instruments.irac.simulate import simulate

    [sim] = simulate(tmp_path / "raw", channel=1, frame_time=12.0, seed=4, sources=[], cosmic_rays=False)
    archive = new_archive(tmp_path / "a", db_url)
    assert ingest(archive, [sim.raw]).exit_code == 0
    obs = sim.raw.name.removesuffix("_raw.fits")
    _, archived, _ = get(archive, obs, tmp_path / "a")
    assert (archived.pipeline, archived.pipeline_version) == ("irac_bcd", "1.1.0")
    path, pinned, _ = get(archive, obs, tmp_path / "p", mode="pinned", pinned="irac_bcd@1.0.0")
    assert (pinned.pipeline_version, pinned.state, pinned.context) == ("1.0.0", "on-demand", "0003")
    [direct] = run("irac_bcd@1.0.0", [sim.raw], tmp_path / "direct", on_error="raise").outputs
    a, b = open_product(path), open_product(direct)
    for plane in ("data", "err", "dq"):
        assert getattr(a, plane).tobytes() == getattr(b, plane).tobytes(), plane
    rows = _rows(archive)
    _, again, _ = get(archive, obs, tmp_path / "p2", mode="pinned", pinned="irac_bcd@1.0.0")
    assert again.id == pinned.id and _rows(archive) == rows


def test_bad_requests_name_the_fix(nir_archive, tmp_path):
    with pytest.raises(InputDataError, match="not in the archive"):
        get(nir_archive, "nir_99999_001_00001", tmp_path)
    with pytest.raises(UsageError, match="NAME@VERSION"):
        get(nir_archive, OBS, tmp_path, mode="pinned", pinned="nir_image2")
    with pytest.raises(UsageError, match="not irac_bcd"):
        get(nir_archive, OBS, tmp_path, mode="pinned", pinned="irac_bcd@1.0.0")
    with pytest.raises(InputDataError, match="no level 3"):
        get(nir_archive, OBS, tmp_path, level=3)


def test_history_lists_every_version_and_state_change(nir_archive, tmp_path, capsys):
    get(nir_archive, OBS, tmp_path / "out")
    rows, log = history(nir_archive, OBS)
    assert [(r.calib_level, r.pipeline, r.state) for r in rows] == [
        (1, "", "raw"), (2, "nir_detector1", "sandbox"), (2, "nir_image2", "sandbox")]
    assert [(a.what, a.state_to) for a in log] == [("registered", "raw"), ("registered", "sandbox"),
                                                   ("registered", "sandbox"), ("retrieved", None)]
    db = ["--db", nir_archive.db.url] if nir_archive.db.backend != "sqlite" else []
    assert calpipe(["archive", "history", OBS, "--archive", str(nir_archive.root), *db]) == 0
    out = capsys.readouterr().out
    assert f"{OBS}: 3 version(s)" in out and "retrieved: as-archived" in out
