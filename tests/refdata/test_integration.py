"""Reference data in real runs: contexts, pinning, overrides, tampering, explanations, the CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core import provenance
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun
from calpipe.core.io import open_product
from calpipe.core.registry import get_registry
from calpipe.instruments.demo.refs import build
from calpipe.refdata.builtin import init
from calpipe.refdata.store import Store


@pytest.fixture
def root(tmp_path):
    return tmp_path / "store"


def run(demo, root, out, *extra):
    return strun(["generic_image2", str(demo.image), "--refdata", str(root), "-o", str(out), "-q", *extra])


def test_first_use_builds_the_builtin_context(demo_session, root, tmp_path):
    assert run(demo_session, root, tmp_path / "out") == 0
    product = tmp_path / "out" / "demo_image_cal.fits"
    head = fits.getheader(product)
    assert (head["REFCTX"], head["R_FLAT"], head["R_MASK"]) == ("0001", "demo_flat_0001.fits", "demo_mask_0001.fits")
    record = provenance.read(product)
    assert record["refdata_context"] == "0001"
    refs = {r["reftype"]: r for s in record["steps"] for r in s["refs"]}
    stored = Store(root).load(1).files()
    assert refs["flat"]["sha256"] in stored
    assert refs["flat"]["overridden"] is False


def test_builders_give_the_same_bytes_every_time(tmp_path):
    first = {name: model for name, model in build()}
    from calpipe.core.io import write_atomic

    for name, model in first.items():
        a = write_atomic(model, tmp_path / "a" / name).read_bytes()
        b = write_atomic(dict(build())[name], tmp_path / "b" / name).read_bytes()
        assert a == b


def test_init_is_idempotent(root):
    store = Store(root)
    assert [c.number for c in init(store, get_registry(), upto=1)] == [1]
    before = store.context_path(1).read_bytes()
    assert init(store, get_registry(), upto=1) == []
    assert store.context_path(1).read_bytes() == before


def test_pinning_an_older_context_and_overriding_one_type(demo_session, root, tmp_path, make_ref):
    assert run(demo_session, root, tmp_path / "v1") == 0
    store = Store(root)
    store.add(make_ref("demo_flat_0002.fits", useafter="2025-01-01T00:00:00", value=2.0), get_registry().reftypes)
    store.publish("brighter flat", "tester", get_registry().reftypes)
    assert run(demo_session, root, tmp_path / "latest", "--context", "1000") == 0
    assert run(demo_session, root, tmp_path / "pinned", "--context", "1") == 0
    latest = open_product(tmp_path / "latest" / "demo_image_cal.fits")
    pinned = open_product(tmp_path / "pinned" / "demo_image_cal.fits")
    v1 = open_product(tmp_path / "v1" / "demo_image_cal.fits")
    assert latest.meta.ref_context == "1000"
    assert pinned.meta.ref_context == "0001"
    assert pinned.data.tobytes() == v1.data.tobytes()
    image = open_product(demo_session.image)
    ok = (latest.dq & 1) == 0
    np.testing.assert_allclose(latest.data[ok], image.data[ok] / 2.0, rtol=1e-6)
    # --ref overrides one type and is recorded as such; the other still comes from the context
    assert run(demo_session, root, tmp_path / "mixed", "--context", "1000", "--ref", f"flat={demo_session.flat}") == 0
    record = provenance.read(tmp_path / "mixed" / "demo_image_cal.fits")
    refs = {r["reftype"]: r for s in record["steps"] for r in s["refs"]}
    assert refs["flat"]["overridden"] is True
    assert refs["mask"]["overridden"] is False
    assert record["refdata_context"] == "1000"


def test_tampered_reference_is_exit_4_naming_the_file(demo_session, root, tmp_path, capsys):
    assert run(demo_session, root, tmp_path / "ok") == 0
    store = Store(root)
    rule = next(r for r in store.load(1).files().values() if r.name == "demo_flat_0001.fits")
    path = store.file_path(rule.sha256)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    capsys.readouterr()
    assert run(demo_session, root, tmp_path / "bad") == 4
    err = capsys.readouterr().err
    assert f"{path}: reference file demo_flat_0001.fits was modified" in err
    assert not (tmp_path / "bad").exists()


def test_no_match_at_run_time_explains(demo, root, tmp_path, capsys):
    image = open_product(demo.image)
    image.meta.instrument.detector = "DEMO7"
    from calpipe.core.io import write_atomic

    path = write_atomic(image, tmp_path / "d7.fits")
    code = strun(["generic_image2", str(path), "--refdata", str(root), "-o", str(tmp_path / "out")])
    assert code == 4
    err = capsys.readouterr().err
    assert "no demo/mask in context 0001 fits this product: DETECTOR=DEMO7 eliminated demo_mask_0001.fits" in err
    # with the mask overridden, the flat (needed by the second step) still fails before the first step runs
    code = strun(["generic_image2", str(path), "--refdata", str(root), "-o", str(tmp_path / "out"),
                  "--ref", f"mask={demo.mask}"])
    assert code == 4
    err = capsys.readouterr().err
    assert "no demo/flat in context 0001" in err
    assert "dq_init" not in err


def test_refdata_commands(demo_session, root, tmp_path, make_ref, capsys):
    base = ["refdata", "--refdata", str(root)]
    assert calpipe([*base, "init", "--upto", "1"]) == 0
    assert calpipe([*base, "add", str(make_ref("demo_flat_0002.fits", useafter="2025-06-01T00:00:00"))]) == 0
    assert "staged demo_flat_0002.fits as demo/flat" in capsys.readouterr().out
    assert calpipe([*base, "publish", "--rationale", "new flat"]) == 0
    assert "published context 1000: 3 files" in capsys.readouterr().out  # local numbers start at 1000
    assert calpipe([*base, "list"]) == 0
    listing = capsys.readouterr().out
    assert "0001" in listing
    assert "1000" in listing
    assert "new flat" in listing
    assert calpipe([*base, "show", "1000"]) == 0
    assert "DETECTOR=DEMO1" in capsys.readouterr().out
    assert calpipe([*base, "diff", "1", "1000"]) == 0
    assert "+ demo_flat_0002.fits (DETECTOR=DEMO1; use after 2025-06-01T00:00:00)" in capsys.readouterr().out
    assert calpipe([*base, "bestref", str(demo_session.image), "--context", "1000"]) == 0
    best = capsys.readouterr().out
    assert ("flat       demo_flat_0002.fits  (DETECTOR=DEMO1 matched 'DEMO1'; use-after 2025-06-01T00:00:00"
            " <= DATE-OBS 2026-01-01T00:00:00; latest of 2 valid candidate(s))") in best
    catalog = tmp_path / "obs.csv"
    catalog.write_text("dataset,pipeline,INSTRUME,DETECTOR,DATE-OBS\n"
                       "early,generic_image2,DEMO,DEMO1,2025-05-31T00:00:00\n"
                       "late,generic_image2,DEMO,DEMO1,2025-06-01T00:00:00\n")
    assert calpipe([*base, "affected", "1", "1000", "--catalog", str(catalog)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "late  flat  demo_flat_0001.fits -> demo_flat_0002.fits"
    assert "1 of 2 observations affected from context 1 to 1000 (flat: 1)" in out.err


def test_the_store_says_where_it_is_and_how_big(root, capsys, caplog):
    import logging

    base = ["refdata", "--refdata", str(root)]
    with caplog.at_level(logging.INFO, logger="calpipe"):
        assert calpipe([*base, "init", "--upto", "1"]) == 0
    on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    files = Store(root).load(1).files()
    demo = sum(Store(root).file_path(h).stat().st_size for h in files)
    kb = f"{on_disk / 1e3:.0f} kB"
    out = capsys.readouterr().out
    assert f"{root}: {len(files)} reference files, {kb}" in out
    assert any(f"reference store {root} now holds {kb}" in r.getMessage() for r in caplog.records)  # first use
    assert calpipe([*base, "du"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{root}: {kb} in {len(files)} reference files"
    assert lines[1].split() == ["demo", f"{demo / 1e3:.0f}", "kB"]
