"""A generated corpus of hostile inputs: mutated products, pipelines, associations and telemetry.

Hypothesis draws each mutation from a valid original (truncations, bit flips,
header edits, YAML edits, lying length fields) and every case runs through the
real command line in the bounded worker (3 GiB address space, 30 s). The
properties are the suite's invariants: the exit is 0 or a refusal of the
expected class (never 1, never a traceback, never a hang), an exit 0 leaves a
product that opens with the input's shape, nothing but finished products is
left in -o, and the input's bytes are unchanged. Examples are derandomized, so
CI runs the same corpus every time; `-m slow` runs a corpus ten times larger.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calpipe.core.io import open_product

from . import corpus
from .harness import assert_refused, fingerprint, leftovers

NORMAL = {"fits": 60, "pipeline": 60, "association": 30, "telemetry": 40}
SLOW = 10  # the slow corpus is this many times larger
_counter = itertools.count()


def _settings(kind: str, factor: int = 1):
    return settings(max_examples=NORMAL[kind] * factor, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _case_dir(workdir: Path) -> Path:
    path = workdir / f"case{next(_counter):05d}"
    path.mkdir()
    return path


def _check(result, codes: set[int], out: Path, before: dict[str, str]) -> None:
    """Exit 0, or a refusal in ``codes``; the other invariants either way."""
    if result.code == 0:
        assert "Traceback" not in result.stderr, result
        assert leftovers(out) == [], result
        assert fingerprint(Path(p) for p in before) == before, f"an input was modified:\n{result}"
    else:
        assert_refused(result, codes=codes, output_dir=out, inputs=before)


# -- products ----------------------------------------------------------------------------------
STRUCTURAL = ["SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "PCOUNT", "GCOUNT",
              "EXTNAME", "END"]
SEMANTIC = ["DATAMODL", "DATALVL", "INSTRUME", "DETECTOR", "BUNIT", "DATE-OBS", "SUBSTRT1", "SUBSIZE1",
            "TFIELDS", "TFORM1", "NAXIS1"]
HOSTILE_VALUES = st.sampled_from(["-1", "0", "1", "3", "999", "1000", "2147483648", "9223372036854775807",
                                  "-9223372036854775808", "1e300", "'NaN'", "'x'", "''", "T", "F", "1.5",
                                  "'ImageModel'", "'MosaicModel'", "'RampModel'", "'DEMO'", "'nir'"])


@st.composite
def fits_mutation(draw, data: bytes):
    spans = corpus.header_spans(data)
    kind = draw(st.sampled_from(["truncate", "truncate_at_hdu", "flip_header", "flip_any", "card", "drop_card",
                                 "append_garbage"]))
    if kind == "truncate":
        return kind, data[:draw(st.integers(0, len(data) - 1))]
    if kind == "truncate_at_hdu":
        cut = draw(st.sampled_from(sorted({s for s, _ in spans[1:]} | {e for _, e in spans})))
        return kind, data[:cut]
    if kind in ("flip_header", "flip_any"):
        out = data
        for _ in range(draw(st.integers(1, 3))):
            if kind == "flip_header":
                start, end = draw(st.sampled_from(spans))
                offset = draw(st.integers(start, end - 1))
            else:
                offset = draw(st.integers(0, len(data) - 1))
            out = corpus.flip_bit(out, offset, draw(st.integers(0, 7)))
        return kind, out
    if kind == "append_garbage":
        return kind, data + draw(st.binary(min_size=1, max_size=6000))
    hdu = draw(st.integers(0, len(spans) - 1))
    key = draw(st.sampled_from(STRUCTURAL + SEMANTIC))
    if key in ("END", "SIMPLE", "XTENSION") and kind == "card":
        kind = "drop_card"
    try:
        return kind, corpus.set_card(data, hdu, key, None if kind == "drop_card" else draw(HOSTILE_VALUES))
    except ValueError:
        return kind, data


def _fits_property(cli, pristine, workdir, mutation) -> None:
    kind, data = mutation
    case = _case_dir(workdir)
    bad = case / "mutant.fits"
    bad.write_bytes(data)
    before = fingerprint([bad])
    out = case / "out"
    result = cli.run("strun", ["generic_image2", str(bad), "--ref", f"mask={pristine.mask}", "--ref",
                               f"flat={pristine.flat}", "-o", str(out)], case, timeout=30)
    _check(result, {3}, out, before)
    if result.code == 0:
        product = open_product(out / "mutant_cal.fits")
        assert product.data.shape == open_product(pristine.image).data.shape, result
        assert kind not in ("truncate", "truncate_at_hdu") or data == pristine.image.read_bytes()[:len(data)]


@given(data=st.data())
@_settings("fits")
def test_mutated_products_end_in_a_product_or_exit_3(cli, pristine, workdir, data):
    _fits_property(cli, pristine, workdir, data.draw(fits_mutation(pristine.image.read_bytes())))


@pytest.mark.slow
@given(data=st.data())
@_settings("fits", SLOW)
def test_mutated_products_slow(cli, pristine, workdir, data):
    _fits_property(cli, pristine, workdir, data.draw(fits_mutation(pristine.image.read_bytes())))


@given(cut=st.integers(1, 75))
@_settings("fits")
def test_every_truncation_of_a_product_is_refused(cli, pristine, workdir, cut):
    """Truncated anywhere, also exactly at an HDU boundary, a product is bad input, never exit 0."""
    data = pristine.image.read_bytes()
    boundaries = [e for _, e in corpus.header_spans(data)]
    length = len(data) * cut // 76 if cut % 5 else boundaries[cut % len(boundaries)]
    case = _case_dir(workdir)
    bad = case / "cut.fits"
    bad.write_bytes(data[:length])
    result = cli.run("strun", ["generic_image2", str(bad), "--ref", f"mask={pristine.mask}", "--ref",
                               f"flat={pristine.flat}", "-o", str(case / "out")], case, timeout=30)
    assert_refused(result, [bad.name], codes={3}, output_dir=case / "out")


# -- pipelines ---------------------------------------------------------------------------------
VALID_PIPELINE = """\
name: fuzzed
version: 1.0.0
description: a user pipeline built on the generic one
input: 2
output: 2
parameters:
  floor: 0.1
imports:
  - pipeline: generic_image2
    exclude: []
steps:
  - id: flat_field
    params:
      min_flat: ${floor}
"""
YAML_TOKENS = st.sampled_from([
    ".nan", ".inf", "-.inf", "1e999", "99999999999999999999999", "-1", "~", "null", "[]", "{}", "&a x", "*a",
    "!!python/object:os.system", "!!binary AAAA", "'${floor}'", "${nope}", "\t", "\"\\x00\"", ": :", "- -",
    "<<: *a", "%YAML 1.1", "---", "...", "? x", "@", "`", "|", ">", "#", "ä", "\U0001F600", "/etc/passwd",
    "../../etc/passwd", "flat_field", "dq_init", "0x10", "0o7", "1_000", "yes", "no", "on",
])


@st.composite
def pipeline_mutation(draw):
    lines = VALID_PIPELINE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace_value", "insert_line", "delete_line", "truncate", "indent"]))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            lines = [draw(YAML_TOKENS)]
        elif op == "replace_value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(YAML_TOKENS)}"
        elif op == "insert_line":
            indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
            lines.insert(i, f"{indent}{draw(st.sampled_from(['x', 'params', 'id', 'step', 'imports']))}: "
                            f"{draw(YAML_TOKENS)}")
        elif op == "delete_line":
            del lines[i]
        elif op == "truncate":
            text = "\n".join(lines)
            lines = text[:draw(st.integers(0, len(text)))].splitlines()
        else:
            lines[i] = " " + lines[i]
    return "\n".join(lines) + "\n"


def _pipeline_property(cli, workdir, text: str, as_config: bool) -> None:
    case = _case_dir(workdir)
    path = case / "fuzzed.yaml"
    path.write_text(text)
    argv = ["show", "generic_image2", "--config", str(path)] if as_config else ["show", str(path)]
    result = cli.run("calpipe", argv, case, timeout=30)
    if result.code != 0:
        assert_refused(result, ["fuzzed.yaml"], codes={2})
    assert "/etc/passwd" not in result.stdout or "/etc/passwd" in text  # nothing read from elsewhere


@given(text=pipeline_mutation(), as_config=st.booleans())
@_settings("pipeline")
def test_mutated_pipelines_and_configs_resolve_or_exit_2(cli, workdir, text, as_config):
    _pipeline_property(cli, workdir, text, as_config)


@pytest.mark.slow
@given(text=pipeline_mutation(), as_config=st.booleans())
@_settings("pipeline", SLOW)
def test_mutated_pipelines_slow(cli, workdir, text, as_config):
    _pipeline_property(cli, workdir, text, as_config)


# -- associations ------------------------------------------------------------------------------
@st.composite
def association_mutation(draw):
    doc = {"name": "fuzz_asn", "observation": "12345", "members": ["m1.fits", "m2.fits"]}
    op = draw(st.sampled_from(["value", "drop", "extra", "members", "raw"]))
    if op == "value":
        doc[draw(st.sampled_from(list(doc)))] = draw(st.one_of(
            st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.lists(st.integers(),
                                                                                             max_size=3)))
    elif op == "drop":
        del doc[draw(st.sampled_from(list(doc)))]
    elif op == "extra":
        doc[draw(st.text(min_size=1, max_size=8))] = draw(st.text(max_size=8))
    elif op == "members":
        doc["members"] = draw(st.lists(st.sampled_from(
            ["m1.fits", "m2.fits", "missing.fits", "", ".", "..", "sub/../m1.fits", "m1.fits\n", "/dev/zero",
             "x" * 300]), max_size=4))
    else:
        return draw(st.sampled_from(["yaml", "json"])), draw(st.binary(max_size=300)).decode("latin-1")
    fmt = draw(st.sampled_from(["yaml", "json"]))
    if fmt == "json":
        return fmt, json.dumps(doc)
    import yaml

    return fmt, yaml.safe_dump(doc)


def _association_property(cli, pristine, workdir, mutation) -> None:
    fmt, text = mutation
    case = _case_dir(workdir)
    for member in ("m1.fits", "m2.fits"):
        (case / member).write_bytes(pristine.image.read_bytes())
    asn = case / f"asn.{fmt}"
    asn.write_text(text, encoding="utf-8", errors="surrogateescape")
    before = fingerprint([case / "m1.fits", case / "m2.fits", asn])
    out = case / "out"
    result = cli.run("strun", ["generic_image2", str(asn), "--ref", f"mask={pristine.mask}", "--ref",
                               f"flat={pristine.flat}", "-o", str(out)], case, timeout=60)
    _check(result, {2, 3}, out, before)


@given(mutation=association_mutation())
@_settings("association")
def test_mutated_associations_run_or_are_refused(cli, pristine, workdir, mutation):
    _association_property(cli, pristine, workdir, mutation)


@pytest.mark.slow
@given(mutation=association_mutation())
@_settings("association", SLOW)
def test_mutated_associations_slow(cli, pristine, workdir, mutation):
    _association_property(cli, pristine, workdir, mutation)


# -- telemetry ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def telemetry(tmp_path_factory):
    from calpipe.level0.downlink import simulate_downlink
    from tests.level0.conftest import FRAME_TAG, make_frame

    tmp = tmp_path_factory.mktemp("fuzz_telemetry")
    raw = make_frame(tmp / "raw" / "tiny_00001_002_00001_uncal.fits")
    files, _ = simulate_downlink([raw], tmp / "tm", files=1, segment_bytes=256)
    return files[0].read_bytes(), FRAME_TAG, open_product(raw).data


@st.composite
def telemetry_mutation(draw, data: bytes):
    spans = corpus.packets(data)
    kind = draw(st.sampled_from(["truncate", "flip", "lie", "drop_packet", "swap"]))
    if kind == "truncate":
        return kind, data[:draw(st.integers(0, len(data) - 1))]
    if kind == "flip":
        out = data
        for _ in range(draw(st.integers(1, 4))):
            out = corpus.flip_bit(out, draw(st.integers(0, len(data) - 1)), draw(st.integers(0, 7)))
        return kind, out
    if kind == "lie":
        shape = tuple(draw(st.lists(st.integers(0, 1 << 20), min_size=1, max_size=4)))
        consistent = 2 * int(np.prod(shape, dtype=object)) % (1 << 64)  # TOTAL is a 64-bit field
        total = draw(st.one_of(st.just(consistent), st.integers(0, (1 << 64) - 1)))
        return kind, corpus.lie_about_length(data, total, shape)
    i = draw(st.integers(0, len(spans) - 1))
    start, end = spans[i]
    if kind == "drop_packet":
        return kind, data[:start] + data[end:]
    j = draw(st.integers(0, len(spans) - 1))
    a, b = sorted([spans[i], spans[j]])
    return kind, data[:a[0]] + data[b[0]:b[1]] + data[a[1]:b[0]] + data[a[0]:a[1]] + data[b[1]:]


def _telemetry_property(cli, workdir, telemetry, mutation) -> None:
    _original, tag, truth = telemetry
    kind, data = mutation
    case = _case_dir(workdir)
    tlm = case / "mutant.tlm"
    tlm.write_bytes(data)
    before = fingerprint([tlm])
    out = case / "out"
    result = cli.run("calpipe", ["level0", "extract", str(tlm), "--tag", tag, "-o", str(out)], case, timeout=30)
    _check(result, {3}, out, before)
    if result.code == 0:  # without --allow-partial, what is written is the exposure, bit for bit
        from astropy.io import fits

        written = sorted(out.glob("*.fits"))
        assert len(written) == 1, result
        assert not fits.getval(written[0], "PARTIAL"), result
        assert np.array_equal(open_product(written[0]).data, truth), f"{kind}: exit 0 with a wrong product"


@given(data=st.data())
@_settings("telemetry")
def test_mutated_telemetry_extracts_the_truth_or_exit_3(cli, workdir, telemetry, data):
    _telemetry_property(cli, workdir, telemetry, data.draw(telemetry_mutation(telemetry[0])))


@pytest.mark.slow
@given(data=st.data())
@_settings("telemetry", SLOW)
def test_mutated_telemetry_slow(cli, workdir, telemetry, data):
    _telemetry_property(cli, workdir, telemetry, data.draw(telemetry_mutation(telemetry[0])))
