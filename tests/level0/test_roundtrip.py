"""Raw -> telemetry -> raw: the same bytes, the same keywords, the same model, the same rate."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.api import run
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product
from calpipe.core.registry import get_registry

from .conftest import FRAME_TAG, NIR_TAG, downlink, make_frame

ADDED = {"DETTEMP", "BIASVOLT", "HKSTART", "HKEND", "HKNSAMP", "PARTIAL"}
PER_FILE = {"DATE", "FILENAME"}  # describe the file, not the exposure


def extract(files, tag, out, *extra):
    return calpipe(["level0", "extract", *map(str, files), "--tag", tag, "-o", str(out), *extra])


def product_name(raw):
    return raw.name  # sent in the header as FILENAME


def cards(header):
    return [(c.keyword, c.value) for c in header.cards if c.keyword not in PER_FILE | ADDED | {"HISTORY"}]


@pytest.mark.parametrize("tag", [NIR_TAG, FRAME_TAG])
def test_same_bytes_keywords_and_model(clean, tmp_path, tag):
    raw = clean.raws[tag]
    assert extract(reversed(clean.files), tag, tmp_path) == 0
    out = tmp_path / product_name(raw)
    original, extracted = open_product(raw), open_product(out)
    assert type(extracted) is type(original)
    assert extracted.data.dtype == np.uint16 and extracted.data.shape == original.data.shape
    assert extracted.data.tobytes() == original.data.tobytes()
    assert not extracted.hasattr("pixeldq")
    with fits.open(raw) as a, fits.open(out) as b:
        assert cards(b[0].header) == cards(a[0].header)
        assert b["SCI"].header["BUNIT"] == a["SCI"].header["BUNIT"] == "DN"
        history = [str(h) for h in b[0].header["HISTORY"]]
        assert set(a[0].header.get("HISTORY", [])) <= set(history)
        assert b[0].header["PARTIAL"] is False


@pytest.mark.parametrize("tag", [NIR_TAG, FRAME_TAG])
def test_housekeeping_of_the_exposure_span_only(clean, tmp_path, tag):
    """The idle samples (40 K) between exposures stay out; the four taken during it are averaged."""
    assert extract(clean.files, tag, tmp_path) == 0
    header = fits.getheader(tmp_path / product_name(clean.raws[tag]))
    [truth] = [e for e in clean.truth["exposures"] if e["tag"] == tag]
    assert header["HKNSAMP"] == truth["housekeeping"]["samples"] == 4
    assert header["DETTEMP"] == pytest.approx(truth["housekeeping"]["DETTEMP"], rel=1e-12)
    assert header["BIASVOLT"] == pytest.approx(truth["housekeeping"]["BIASVOLT"], rel=1e-12)
    assert 36.9 < header["DETTEMP"] < 37.2
    assert (header["HKSTART"], header["HKEND"]) == (truth["start"], truth["end"])


def test_provenance_names_files_hashes_and_sequence_counts(clean, tmp_path):
    assert extract(clean.files, NIR_TAG, tmp_path) == 0
    product = open_product(tmp_path / product_name(clean.raws[NIR_TAG]))
    record = product.meta.level0.instance
    hashes = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in clean.files}
    assert record["tag"] == NIR_TAG and record["partial"] is False and record["missing"] == []
    assert all(hashes[f["name"]] == f["sha256"] for f in record["files"])
    [truth] = [e for e in clean.truth["exposures"] if e["tag"] == NIR_TAG]
    used = {}
    for f in record["files"]:
        for p in f["packets"]:
            used.setdefault(p["apid"], []).extend(range(a, b + 1) for a, b in p["sequence_counts"])
    for kind in ("science", "header"):
        first, count = truth[kind]["first_seq_count"], truth[kind]["packets"]
        assert sorted(s for r in used[truth[kind]["apid"]] for s in r) == list(range(first, first + count))
    assert record["housekeeping"]["samples"] == 4
    assert not product.meta.provenance.instance  # the runner's to write, when a pipeline runs


@pytest.mark.parametrize(("tag", "expected"), [
    ("00001", {NIR_TAG, FRAME_TAG}),  # a program: both visits
    ("1", {NIR_TAG, FRAME_TAG}),  # digits match by value
    ("1:2", {FRAME_TAG}),
    ("00001:001:00001", {NIR_TAG}),
])
def test_tags_select_across_files(clean, tmp_path, tag, expected):
    assert extract(clean.files, tag, tmp_path) == 0
    names = {p.name for p in tmp_path.glob("*.fits")}
    assert names == {product_name(clean.raws[t]) for t in expected}


def test_unknown_and_bad_tags(clean, tmp_path, capsys):
    assert extract(clean.files, "00003", tmp_path) == 3
    err = capsys.readouterr().err
    assert "no exposure tagged 00003" in err and f"tags found: {NIR_TAG}, {FRAME_TAG}" in err
    for bad in ("1:2:3:4", "1:a-b", "123456789", "1::1"):
        assert extract(clean.files, bad, tmp_path) == 2
        assert f"--tag '{bad}'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.fits"))


def test_out_of_order_files_and_any_cut_reassemble(raws, tmp_path):
    """Files numbered out of stream order, given in any order; another cut gives the same arrays."""
    shuffled = downlink(raws, tmp_path / "a", files=7, shuffle=True, segment_bytes=512, seed=4)
    assert shuffled.truth["files"] != sorted(shuffled.truth["files"])
    plain = downlink(raws, tmp_path / "b", files=2, segment_bytes=3000)
    arrays = []
    for i, files in enumerate((sorted(shuffled.files), shuffled.files[::-1], plain.files)):
        assert extract(files, "1", tmp_path / f"out{i}") == 0
        arrays.append([open_product(tmp_path / f"out{i}" / product_name(raws[t])).data.tobytes()
                       for t in (NIR_TAG, FRAME_TAG)])
    assert arrays[0] == arrays[1] == arrays[2] == [open_product(raws[t]).data.tobytes()
                                                   for t in (NIR_TAG, FRAME_TAG)]


def test_plugin_model_class_comes_back(tmp_path):
    """A raw product of a plugin's model class is rebuilt as that class (found by DATAMODL)."""
    cls = get_registry().models.get("IracRawModel")
    if cls is None:
        pytest.skip("no plugin raw model installed")
    raw = make_frame(tmp_path / "irac_00003_001_00001_uncal.fits", cls, program="00003", visit="001",
                     shape=(16, 16))
    dl = downlink({"00003:001:00001": raw}, tmp_path / "tlm", segment_bytes=100)
    assert extract(dl.files, "3", tmp_path / "out") == 0
    back = open_product(tmp_path / "out" / raw.name)
    assert type(back) is cls and back.data.tobytes() == open_product(raw).data.tobytes()


def test_nir_detector1_gives_the_same_rate(clean, tmp_path):
    """The extracted exposure is accepted unchanged: same SCI, ERR and DQ bytes as from the original."""
    assert extract(clean.files, NIR_TAG, tmp_path / "raw") == 0
    extracted = tmp_path / "raw" / product_name(clean.raws[NIR_TAG])
    rates = []
    for i, raw in enumerate((clean.raws[NIR_TAG], extracted)):
        run("nir_detector1", [raw], tmp_path / f"rate{i}", on_error="raise")
        rate = open_product(tmp_path / f"rate{i}" / raw.name.replace("_uncal", "_rate"))
        rates.append([getattr(rate, a).tobytes() for a in ("data", "err", "dq")])
    assert rates[0] == rates[1]


@pytest.mark.parametrize(("filename", "expected"), [
    ("SPITZER_I1_1_0000_raw.fits", "SPITZER_I1_1_0000_raw.fits"),  # as sent
    (None, "nir_1_2_3_uncal.fits"),  # none sent: from instrument and tag
    ("../../etc/x.fits", "nir_1_2_3_uncal.fits"),  # never a path
])
def test_output_name(filename, expected):
    from calpipe.core.models.products import RawModel
    from calpipe.level0.extract import _product_name
    from calpipe.level0.tags import Tag

    model = RawModel()
    model.meta.instrument.name, model.meta.filename = "NIR", filename
    assert _product_name(model, Tag("1", "2", "3")) == expected


def test_the_documented_spitzer_tags_select_an_aor_and_one_frame(tmp_path, capsys):
    from calpipe.instruments.irac.simulate import simulate as irac

    frames = [s.raw for s in irac(tmp_path / "raw", channel=1, naor_frames=3, seed=2, aorkey=12345678)]
    dl = downlink({str(i): f for i, f in enumerate(frames)}, tmp_path / "tlm", files=2)
    with pytest.raises(SystemExit):
        calpipe(["level0", "extract", "--help"])
    assert "SPITZER:AORKEY:EXPID" in " ".join(capsys.readouterr().out.split())
    assert extract(dl.files, "SPITZER:12345678", tmp_path / "aor") == 0  # the AOR
    assert {p.name for p in (tmp_path / "aor").glob("*.fits")} == {f.name for f in frames}
    expid = fits.getheader(frames[1])["EXPID"]
    assert extract(dl.files, f"SPITZER:12345678:{expid}", tmp_path / "one") == 0  # one frame, by EXPID
    assert [p.name for p in (tmp_path / "one").glob("*.fits")] == [frames[1].name]
