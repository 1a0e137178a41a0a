"""`calpipe sim telemetry`: interleaved, time-ordered packets cut across files; usage errors."""

from __future__ import annotations

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.level0.decode import read_telemetry

from .conftest import FRAME_TAG, NIR_TAG, downlink


def test_stream_is_interleaved_in_time_and_cut_across_files(raws, tmp_path):
    dl = downlink(raws, tmp_path, files=2, segment_bytes=1024)
    stream = [p for f in dl.files for p in read_telemetry(f).packets]
    assert [p.ticks for p in stream] == sorted(p.ticks for p in stream)
    kinds = "".join({"science": "s", "header": "h", "housekeeping": "k"}[p.kind] for p in stream)
    # idle sample, headers, then housekeeping among science
    assert kinds.startswith("kh"), "starts with housekeeping"
    assert "sks" in kinds, "science packets inside"
    for kind in ("science", "header", "housekeeping"):  # per-APID counters run on across exposures and files
        seqs = [p.seq_count for p in stream if p.kind == kind]
        assert seqs == list(range(len(seqs)))
    tags_per_file = [{str(p.tag) for p in read_telemetry(f).packets if p.tag} for f in dl.files]
    assert any(len(tags) == 2 for tags in tags_per_file)  # a file holds several exposures
    assert tags_per_file == [{NIR_TAG}, {NIR_TAG, FRAME_TAG}]  # ... and an exposure spans files


def test_cli_prints_files_in_stream_order_and_the_truth(raws, tmp_path, capsys):
    assert calpipe(["sim", "telemetry", *map(str, raws.values()), "-o", str(tmp_path), "--files", "4",
                    "--shuffle", "--seed", "3"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1] == str(tmp_path / "downlink_truth.json")
    assert sorted(printed[:-1]) == sorted(str(p) for p in tmp_path.glob("tlm_*.pkt")), "prints every packet file"
    assert len(printed) == 5, "five lines printed"


def test_usage_errors(raws, tmp_path, capsys):
    nir = str(raws[NIR_TAG])
    assert calpipe(["sim", "telemetry", nir, "-o", str(tmp_path), "--drop", "999"]) == 2
    assert "999 faults asked for, but only 3 science packets" in capsys.readouterr().err
    assert calpipe(["sim", "telemetry", nir, nir, "-o", str(tmp_path)]) == 2
    assert "same tag" in capsys.readouterr().err
    assert calpipe(["sim", "telemetry", nir, "-o", str(tmp_path), "--files", "100"]) == 2
    assert calpipe(["sim", "telemetry", nir, "-o", str(tmp_path), "--segment-bytes", "70000"]) == 2
    not_fits = tmp_path / "x.fits"
    not_fits.write_text("hello")
    assert calpipe(["sim", "telemetry", str(not_fits), "-o", str(tmp_path)]) == 3
    assert not list(tmp_path.glob("*.pkt"))
