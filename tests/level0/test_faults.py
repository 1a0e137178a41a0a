"""Every injected fault is detected and reported with exposure, sequence counts, files and positions."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product
from calpipe.core.models.dqflags import DQ

from .conftest import FRAME_TAG, NIR_TAG, downlink

SEGMENT = 1000  # not a multiple of a 32-pixel row (64 bytes): losses cut rows


def extract(files, tag, out, *extra):
    return calpipe(["level0", "extract", *map(str, files), "--tag", tag, "-o", str(out), *extra])


def lost_pixels(shape, losses):
    """(y, x) of the uint16 elements in the lost byte ranges, from the simulator's truth."""
    flat = np.zeros(int(np.prod(shape)), bool)
    for f in losses:
        flat[f["offset"] // 2: -(-(f["offset"] + f["length"]) // 2)] = True
    return flat.reshape(shape).reshape(-1, *shape[-2:]).any(axis=0), flat.reshape(shape)


@pytest.fixture(scope="module")
def lossy(raws, tmp_path_factory):
    """The nir exposure with one packet lost and one corrupted (seed chosen so both are mid-stream)."""
    return downlink({NIR_TAG: raws[NIR_TAG]}, tmp_path_factory.mktemp("lossy"), files=3, drop=1, corrupt=1,
                    seed=2, segment_bytes=SEGMENT)


def test_incomplete_exposure_not_written_without_allow_partial(lossy, tmp_path, capsys):
    faults = lossy.truth["faults"]
    [corrupted], [dropped] = faults["corrupted"], faults["dropped"]
    assert extract(lossy.files, NIR_TAG, tmp_path) == 3
    out = capsys.readouterr()
    assert (f"rejected packet at {corrupted['file']} byte {corrupted['position']} (APID 256, sequence count "
            f"{corrupted['seq_count']} as read): CRC") in out.out
    for fault in (dropped, corrupted):
        assert (f"exposure {NIR_TAG}: missing packets APID 256 sequence counts {fault['seq_count']} "
                f"(bytes {fault['offset']}-{fault['offset'] + fault['length'] - 1} of 10240)") in out.out
    assert f"NOT WRITTEN: exposure {NIR_TAG}: incomplete, 2 science packet(s) missing" in out.out
    assert "--allow-partial" in out.out, "suggests --allow-partial"
    assert "1 exposure(s) not written" in out.err, "says how many exposures were not written"
    assert not list(tmp_path.glob("*.fits"))


def test_partial_exposure_flags_exactly_the_lost_pixels(lossy, tmp_path):
    faults = lossy.truth["faults"]
    losses = faults["dropped"] + faults["corrupted"]
    assert extract(lossy.files, NIR_TAG, tmp_path, "--allow-partial") == 0
    path = tmp_path / lossy.raws[NIR_TAG].name
    product, original = open_product(path), open_product(lossy.raws[NIR_TAG])
    plane, elements = lost_pixels(original.data.shape, losses)
    assert 0 < plane.sum() < plane.size  # some pixels, not all
    assert product.pixeldq.dtype == np.uint32
    assert np.array_equal(product.pixeldq, np.where(plane, DQ.DROPOUT | DQ.DO_NOT_USE, 0))
    assert (product.data[elements] == 0).all()
    assert np.array_equal(product.data[~elements], original.data[~elements])
    header = fits.getheader(path)
    assert header["PARTIAL"] is True
    seqs = sorted(f["seq_count"] for f in losses)
    history = "\n".join(str(h) for h in header["HISTORY"])
    assert all(f"PARTIAL: lost APID 256 sequence counts {s}," in history for s in seqs)
    record = product.meta.level0.instance
    assert record["partial"] is True
    assert sorted((m["sequence_counts"][0], tuple(m["bytes"])) for m in record["missing"]) == sorted(
        (f["seq_count"], (f["offset"], f["offset"] + f["length"])) for f in losses)
    assert [(r["file"], r["position"]) for r in record["rejected"]] == [
        (faults["corrupted"][0]["file"], faults["corrupted"][0]["position"])]
    if shutil.which("fitsverify"):
        check = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
        assert "verification OK" in check.stdout, check.stdout


def test_duplicates_dropped_once_and_reported(raws, tmp_path, capsys):
    dl = downlink(raws, tmp_path / "tlm", files=4, duplicate=3, seed=1, segment_bytes=SEGMENT)
    for tag in (NIR_TAG, FRAME_TAG):
        assert extract(dl.files, tag, tmp_path / "out") == 0
    out = capsys.readouterr().out
    for d in dl.truth["faults"]["duplicated"]:
        # the copy that comes first by file name and position is kept
        (kf, kp), (df, dp) = sorted([(d["file"], d["position"]), (d["copy_file"], d["copy_position"])])
        assert (f"exposure {d['tag']}: duplicate packet APID 256 sequence count {d['seq_count']} at "
                f"{df} byte {dp} (kept {kf} byte {kp}): dropped") in out
    assert out.count("duplicate packet APID 256") == 3
    for tag in (NIR_TAG, FRAME_TAG):
        product = open_product(tmp_path / "out" / raws[tag].name)
        assert product.data.tobytes() == open_product(raws[tag]).data.tobytes()
        assert not product.hasattr("pixeldq")
    dups = [d for d in dl.truth["faults"]["duplicated"] if d["tag"] == NIR_TAG]
    record = open_product(tmp_path / "out" / raws[NIR_TAG].name).meta.level0.instance
    assert sorted(d["sequence_count"] for d in record["duplicates"]) == sorted(d["seq_count"] for d in dups)


def test_all_faults_together_out_of_order(raws, tmp_path, capsys):
    dl = downlink(raws, tmp_path / "tlm", files=5, drop=2, duplicate=2, corrupt=2, shuffle=True, seed=9,
                  segment_bytes=400)  # the frame: 3 packets
    faults = dl.truth["faults"]
    assert extract(dl.files[::-1], "1", tmp_path / "out", "--allow-partial") == 0
    out = capsys.readouterr().out
    assert out.count("rejected packet at") == 2, "two rejected packets reported"
    assert out.count("duplicate packet") == 2, "two duplicate packets reported"
    for tag in (NIR_TAG, FRAME_TAG):
        losses = [f for f in faults["dropped"] + faults["corrupted"] if f["tag"] == tag]
        product = open_product(tmp_path / "out" / raws[tag].name)
        original = open_product(raws[tag])
        missing = sorted(s for m in product.meta.level0.instance["missing"] for s in m["sequence_counts"])
        assert missing == sorted(f["seq_count"] for f in losses)
        plane, elements = lost_pixels(original.data.shape, losses)
        dq = product.pixeldq if product.hasattr("pixeldq") else np.zeros(plane.shape, np.uint32)
        assert np.array_equal(dq, np.where(plane, DQ.DROPOUT | DQ.DO_NOT_USE, 0))
        assert np.array_equal(product.data[~elements], original.data[~elements])


def test_exposure_without_its_header_packets_not_written(raws, tmp_path, capsys):
    """The header packets come first: without the first file the keywords cannot be restored."""
    dl = downlink({NIR_TAG: raws[NIR_TAG]}, tmp_path / "tlm", files=2, segment_bytes=SEGMENT)
    assert extract(dl.files[1:], NIR_TAG, tmp_path / "out", "--allow-partial") == 3
    assert "no header packets (APID 257)" in capsys.readouterr().out
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.fits"))


def test_truncated_telemetry_is_bad_input(raws, tmp_path, capsys):
    dl = downlink({NIR_TAG: raws[NIR_TAG]}, tmp_path / "tlm", files=2, segment_bytes=SEGMENT)
    content = dl.files[1].read_bytes()
    dl.files[1].write_bytes(content[:-10])
    assert extract(dl.files, NIR_TAG, tmp_path / "out") == 3
    err = capsys.readouterr().err
    assert f"{dl.files[1]}: not readable as CCSDS packets" in err, "names the unreadable file"
    assert "truncated" in err, "says it is truncated"
    assert extract([tmp_path / "nowhere.pkt"], NIR_TAG, tmp_path / "out") == 3
