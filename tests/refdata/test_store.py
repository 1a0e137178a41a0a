"""Store and contexts: staging, publishing, validation, immutability, tampering."""

from __future__ import annotations

import os

import pytest

from calpipe.core.errors import RefDataError
from calpipe.core.provenance import sha256_file
from calpipe.refdata.context import Context, diff


def _publish(store, reftypes, *paths, rationale="test"):
    for p in paths:
        store.add(p, reftypes)
    return store.publish(rationale, "tester", reftypes)


def test_files_are_addressed_by_content_and_carry_their_metadata(store, reftypes, make_ref):
    path = make_ref("flat_a.fits", detector="DEMO1|DEMO2", useafter="2021-03-04T00:00:00")
    entry = store.add(path, reftypes)
    assert entry["sha256"] == sha256_file(path)
    assert store.file_path(entry["sha256"]).read_bytes() == path.read_bytes()
    assert (entry["instrument"], entry["reftype"], entry["useafter"]) == ("demo", "flat", "2021-03-04T00:00:00")
    assert entry["select"] == {"DETECTOR": "DEMO1|DEMO2"}, "selectors"
    assert entry["description"] == "test flat", "description"


def test_publish_numbers_contexts_and_inherits(store, reftypes, make_ref):
    c1 = _publish(store, reftypes, make_ref("flat1.fits"), make_ref("mask1.fits", "mask"), rationale="first")
    c2 = _publish(store, reftypes, make_ref("flat2.fits", useafter="2023-01-01T00:00:00", value=2.0))
    assert (c1.number, c2.number, c2.parent) == (1000, 1001, 1000)  # local contexts start at 1000
    assert store.context_numbers() == [1000, 1001]
    loaded = store.load(1001)
    assert {r.name for r in loaded.files().values()} == {"flat1.fits", "mask1.fits", "flat2.fits"}
    assert loaded.rationale == "test", "rationale of the loaded context"
    assert store.load(1000).rationale == "first", "rationale of context 1000"
    assert store.staged() == []


def test_same_selection_and_date_supersedes(store, reftypes, make_ref):
    _publish(store, reftypes, make_ref("flat_old.fits", value=1.0))
    c2 = _publish(store, reftypes, make_ref("flat_new.fits", value=1.5))
    assert [r.name for r in c2.rules_for("demo", "flat").rules] == ["flat_new.fits"]
    [change] = diff(store.load(1000), c2)
    assert [r.name for r in change.added] == ["flat_new.fits"]
    assert [r.name for r in change.removed] == ["flat_old.fits"]


def test_published_contexts_are_never_modified(store, reftypes, make_ref):
    _publish(store, reftypes, make_ref("flat1.fits"))
    first = store.context_path(1000)
    before = first.read_bytes()
    _publish(store, reftypes, make_ref("flat2.fits", useafter="2024-01-01T00:00:00"))
    assert first.read_bytes() == before
    assert not os.access(first, os.W_OK) or os.geteuid() == 0  # read-only (root can write anyway)
    assert first.stat().st_mode & 0o222 == 0
    with pytest.raises(RefDataError, match="context already exists"):
        store._write_once(first, "context: 1000\n")
    assert first.read_bytes() == before
    # the child records the hash of its parent, so an edit of the parent is detectable
    import hashlib

    assert store.load(1001).parent_sha256 == hashlib.sha256(before).hexdigest()


def test_ambiguous_rules_are_refused_at_publish(store, reftypes, make_ref):
    store.add(make_ref("flat_star.fits", detector="*", value=1.0), reftypes)
    store.add(make_ref("flat_d1.fits", detector="DEMO1", value=2.0), reftypes)
    with pytest.raises(RefDataError) as err:
        store.publish("clash", "t", reftypes)
    assert "flat_d1.fits (DETECTOR=DEMO1; use after 2020-01-01T00:00:00)" in str(err.value)
    assert "could both be chosen for one observation" in str(err.value)
    assert store.context_numbers() == []


def test_publish_checks_hashes_of_every_file(store, reftypes, make_ref):
    c1 = _publish(store, reftypes, make_ref("flat1.fits"))
    stored = store.file_path(next(iter(c1.files())))
    os.chmod(stored, 0o644)
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    store.add(make_ref("mask1.fits", "mask"), reftypes)
    with pytest.raises(RefDataError, match=r"flat1\.fits was modified"):
        store.publish("after tampering", "t", reftypes)


@pytest.mark.parametrize(("keyword", "message"), [
    ("REFTYPE", "missing keyword REFTYPE"),
    ("USEAFTER", "missing keyword USEAFTER"),
    ("DETECTOR", "missing selection keyword DETECTOR for flat (use '*' to match any value)"),
])
def test_add_names_the_missing_keyword(store, reftypes, make_ref, keyword, message):
    from astropy.io import fits

    path = make_ref("flat.fits")
    with fits.open(path, mode="update") as hdul:
        del hdul[0].header[keyword]
    with pytest.raises(RefDataError) as err:
        store.add(path, reftypes)
    assert str(err.value) == f"{path}: {message}" or str(err.value).startswith(f"{path}: {message} (")


def test_add_refuses_unknown_reference_types(store, reftypes, make_ref):
    from astropy.io import fits

    path = make_ref("flat.fits")
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["REFTYPE"] = "gain"
    with pytest.raises(RefDataError, match="no installed plugin defines reference type demo/gain"):
        store.add(path, reftypes)


def test_nothing_staged_and_no_rationale(store, reftypes, make_ref):
    with pytest.raises(RefDataError, match="nothing staged"):
        store.publish("x", "t", reftypes)
    store.add(make_ref("flat.fits"), reftypes)
    with pytest.raises(RefDataError, match="needs a rationale"):
        store.publish("  ", "t", reftypes)


def test_context_yaml_round_trip(store, reftypes, make_ref):
    ctx = _publish(store, reftypes, make_ref("flat.fits", detector="DEMO*"), make_ref("mask.fits", "mask"))
    assert Context.from_yaml(ctx.to_yaml()) == ctx
