"""Unbounded resources and hangs: every limit is a clear exit 2 or 3 naming it, within the bounds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from calpipe.core import limits

from . import corpus
from .harness import assert_refused, fingerprint

QUICK = 10.0  # seconds: a refusal must not take longer than reading a small file


def _refs(pristine) -> list[str]:
    return ["--ref", f"mask={pristine.mask}", "--ref", f"flat={pristine.flat}"]


def _strun(cli, pristine, tmp_path, *argv, pipeline="generic_image2", inputs=None):
    inputs = [str(pristine.image)] if inputs is None else inputs
    return cli.run("strun", [pipeline, *inputs, *_refs(pristine), "-o", str(tmp_path / "out"), *argv],
                   tmp_path, timeout=QUICK * 3)


@pytest.mark.parametrize(("levels", "width"), [(9, 9), (6, 20), (30, 2)])
def test_billion_laughs_pipeline_is_refused_quickly(cli, pristine, tmp_path, levels, width):
    pipe = tmp_path / "laughs.yaml"
    pipe.write_text("name: laughs\nversion: 1.0.0\ninput: 2\noutput: 2\nparameters:\n"
                    + "".join(f"  {line}\n" for line in corpus.billion_laughs(levels, width).splitlines()))
    before = fingerprint([pipe, pristine.image])
    result = _strun(cli, pristine, tmp_path, pipeline=str(pipe))
    assert_refused(result, [str(pipe), f"more than {limits.MAX_YAML_NODES} nodes"], codes={2},
                   output_dir=tmp_path / "out", inputs=before)
    assert result.seconds < QUICK


@pytest.mark.parametrize("kind", ["config", "association"])
def test_billion_laughs_config_and_association_are_refused(cli, pristine, tmp_path, kind):
    doc = tmp_path / f"{kind}.yaml"
    doc.write_text(corpus.billion_laughs())
    if kind == "config":
        result = _strun(cli, pristine, tmp_path, "--config", str(doc))
        codes = {2}
    else:
        result = _strun(cli, pristine, tmp_path, inputs=[str(doc)])
        codes = {3}
    assert_refused(result, [str(doc), "nodes"], codes=codes, output_dir=tmp_path / "out")
    assert result.seconds < QUICK


def test_yaml_size_and_nesting_limits_are_named(cli, pristine, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\nversion: 1.0.0\ninput: 2\noutput: 2\ndescription: '"
                   + "x" * limits.MAX_YAML_BYTES + "'\n")
    assert_refused(_strun(cli, pristine, tmp_path, pipeline=str(big)),
                   [str(big), f"more than the {limits.MAX_YAML_BYTES}"], codes={2})
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\nversion: 1.0.0\ninput: 2\noutput: 2\nparameters:\n  x: "
                    + "[" * 5000 + "]" * 5000 + "\n")
    assert_refused(_strun(cli, pristine, tmp_path, pipeline=str(deep)), [str(deep), "nest"], codes={2})


def test_an_import_chain_deeper_than_the_limit_is_refused(cli, pristine, tmp_path):
    top = corpus.import_chain(tmp_path / "chain", 1500, "generic_image2")
    result = _strun(cli, pristine, tmp_path, pipeline=str(top))
    assert_refused(result, [f"imports nested more than {limits.MAX_IMPORT_DEPTH} deep"], codes={2})
    assert "p0.yaml" in result.stderr or f"p{limits.MAX_IMPORT_DEPTH - 1}.yaml" in result.stderr


def test_an_import_chain_within_the_limit_still_works(cli, pristine, tmp_path):
    top = corpus.import_chain(tmp_path / "chain", limits.MAX_IMPORT_DEPTH - 1, "generic_image2")
    result = cli.run("calpipe", ["show", str(top)], tmp_path)
    assert result.code == 0, result
    assert "flat_field" in result.stdout


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.fits"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("where", ["input", "config", "pipeline", "import", "association"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_are_refused_not_read(cli, pristine, tmp_path, fifo, where, special):
    target = str(fifo) if special == "fifo" else special
    argv, pipeline, inputs = [], "generic_image2", None
    if where == "input":
        inputs = [target]
    elif where == "config":
        argv = ["--config", target]
    elif where == "pipeline":
        link = tmp_path / "p.yaml"
        link.symlink_to(target)
        pipeline = target = str(link)
    elif where == "import":  # through a .yaml link beside the importing file, so it is read at all
        (tmp_path / "special.yaml").symlink_to(target)
        target = "special.yaml"
        pipe = tmp_path / "imp.yaml"
        pipe.write_text(f"name: imp\nversion: 1.0.0\ninput: 2\noutput: 2\nimports:\n  - pipeline: {target}\n")
        pipeline = str(pipe)
    else:
        link = tmp_path / "asn.yaml"
        link.symlink_to(target)
        inputs = [target := str(link)]
    result = _strun(cli, pristine, tmp_path, *argv, pipeline=pipeline, inputs=inputs)
    # an import resolving out of its directory (/dev/zero) is refused unread before that
    why = "outside" if where == "import" and special == "/dev/zero" else "not a regular file"
    assert_refused(result, [target, why], output_dir=tmp_path / "out")
    assert result.seconds < QUICK


def test_fifo_given_to_level0_extract_is_refused(cli, tmp_path, fifo):
    result = cli.run("calpipe", ["level0", "extract", str(fifo), "--tag", "00001:001:00001", "-o",
                                 str(tmp_path / "out")], tmp_path, timeout=QUICK * 3)
    assert_refused(result, [str(fifo), "not a regular file"], codes={3})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("NAXIS1", "-1", "NAXIS1 = -1 is negative"),
    ("NAXIS2", "-128", "NAXIS2 = -128 is negative"),
    ("NAXIS", "3", "missing keyword NAXIS3"),
    ("NAXIS", "1000", "NAXIS = 1000 is outside 0..999"),
    ("NAXIS1", "40000000", "bytes of data"),  # a 148 GiB array declared in a 200 kB file
    ("BITPIX", "24", "BITPIX = 24 is not a FITS data type"),
    ("NAXIS1", "'wide'", "NAXIS1 = 'wide' is not an integer"),
    ("GCOUNT", "-2", "negative"),
])
@pytest.mark.parametrize("hdu", [1, 3])
def test_lying_array_headers_are_refused_before_allocation(cli, pristine, tmp_path, key, value, message, hdu):
    bad = tmp_path / "lying.fits"
    data = corpus.set_card(pristine.image.read_bytes(), hdu, key, value)
    if key == "NAXIS1" and value == "40000000":
        data = corpus.set_card(data, hdu, "NAXIS2", "1000")
    bad.write_bytes(data)
    before = fingerprint([bad])
    result = _strun(cli, pristine, tmp_path, inputs=[str(bad)])
    assert_refused(result, [str(bad), f"HDU {hdu}", message], codes={3}, output_dir=tmp_path / "out",
                   inputs=before)
    assert result.seconds < QUICK


def test_lying_reference_file_is_a_reference_error(cli, pristine, tmp_path):
    flat = tmp_path / "flat.fits"
    flat.write_bytes(corpus.set_card(pristine.flat.read_bytes(), 1, "NAXIS1", "-1"))
    result = cli.run("strun", ["generic_image2", str(pristine.image), "--ref", f"mask={pristine.mask}",
                               "--ref", f"flat={flat}", "-o", str(tmp_path / "out")], tmp_path)
    assert_refused(result, [str(flat), "NAXIS1 = -1"], codes={4})


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory):
    from calpipe.level0.downlink import simulate_downlink
    from tests.level0.conftest import FRAME_TAG, make_frame

    tmp = tmp_path_factory.mktemp("telemetry")
    raw = make_frame(tmp / "raw" / "tiny_00001_002_00001_uncal.fits")
    files, _ = simulate_downlink([raw], tmp / "tm", files=1, segment_bytes=256)
    return files[0], FRAME_TAG


@pytest.mark.parametrize(("total", "shape"), [
    (8 << 30, (1, 65536, 65536)),  # 8 GiB: the reported case
    (1 << 61, (1 << 15, 1 << 15, 1 << 15, 1 << 15)),
])
def test_telemetry_length_fields_are_bounded_by_what_packets_can_carry(cli, telemetry, tmp_path, total, shape):
    source, tag = telemetry
    lying = tmp_path / "lying.tlm"
    lying.write_bytes(corpus.lie_about_length(source.read_bytes(), total, shape))
    result = cli.run("calpipe", ["level0", "extract", str(lying), "--tag", tag, "-o", str(tmp_path / "out")],
                     tmp_path, timeout=QUICK * 3)
    assert_refused(result, ["lying.tlm", f"TOTAL = {total}"], codes={3}, output_dir=tmp_path / "out")
    assert result.seconds < QUICK


def test_the_memory_bound_itself_holds(tmp_path):
    """The harness's rlimit is real: a child allocating past it gets MemoryError, it does not swap."""
    import subprocess
    import sys

    from .harness import _limit

    child = subprocess.run([sys.executable, "-c", "bytearray(1 << 30)"], preexec_fn=_limit(512 * 2**20),
                           capture_output=True, text=True, timeout=30)
    assert child.returncode == 1
    assert "MemoryError" in child.stderr


def test_a_huge_telemetry_file_is_refused_by_size(tmp_path, monkeypatch):
    from calpipe.core.errors import InputDataError
    from calpipe.level0 import decode

    big = tmp_path / "big.tlm"
    with open(big, "wb") as f:
        f.truncate(decode.MAX_TELEMETRY_BYTES + 1)  # sparse: no disk used
    with pytest.raises(InputDataError, match=f"more than the {decode.MAX_TELEMETRY_BYTES}"):
        decode.read_telemetry(big)
    shutil.rmtree(tmp_path)
