"""The runner: science against truth, provenance, failures, inputs untouched, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core import provenance
from calpipe.core.errors import InputDataError, RefDataError, StepFailedError
from calpipe.core.hookspecs import hookimpl
from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.dqflags import DQ
from calpipe.core.pipeline import Overrides, resolve
from calpipe.core.provenance import sha256_file
from calpipe.core.refs import OverrideResolver
from calpipe.core.registry import Registry, get_registry
from calpipe.core.runner import Runner
from calpipe.core.step import Step


def _runner(demo, overrides=None, registry=None, pipeline="generic_image2"):
    p = resolve(pipeline, registry or get_registry(), overrides)
    return Runner(p, OverrideResolver({"mask": demo.mask, "flat": demo.flat}), registry=get_registry())


def test_calibrated_image_matches_truth(demo_session, tmp_path):
    out = _runner(demo_session).run_file(demo_session.image, tmp_path)
    cal, truth = open_product(out), open_product(demo_session.truth)
    mask, flat = open_product(demo_session.mask), open_product(demo_session.flat)
    # every mask pixel and every unusable flat pixel is flagged, and nothing else
    expected = (mask.dq & DQ.DO_NOT_USE).astype(bool) | (flat.data <= 0)
    np.testing.assert_array_equal((cal.dq & DQ.DO_NOT_USE).astype(bool), expected)
    assert np.all(cal.dq[flat.data <= 0] & DQ.NO_FLAT_FIELD)
    good = ~expected
    pull = (cal.data - truth.data)[good] / cal.err[good]
    assert abs(np.median(cal.data[good] / truth.data[good]) - 1) < 1e-3
    assert 0.95 < pull.std() < 1.05
    assert abs(pull.mean()) < 0.05


def test_input_is_never_modified(demo, tmp_path):
    before = demo.image.read_bytes()
    _runner(demo).run_file(demo.image, tmp_path)
    assert demo.image.read_bytes() == before


def test_same_input_gives_identical_bytes(demo_session, tmp_path):
    runner = _runner(demo_session)
    a = open_product(runner.run_file(demo_session.image, tmp_path / "a"))
    b = open_product(_runner(demo_session).run_file(demo_session.image, tmp_path / "b"))
    for name in ("data", "err", "dq"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()


def test_provenance_record_and_keywords(demo_session, tmp_path):
    runner = _runner(demo_session, Overrides(step_params={"flat_field": {"min_flat": 0.01}}))
    out = runner.run_file(demo_session.image, tmp_path)
    record = provenance.read(out)
    assert record["pipeline"]["sha256"] == runner.pipeline.sha256()
    assert json.loads(record["pipeline"]["definition"]) == runner.pipeline.definition()
    assert record["inputs"] == [{"name": "demo_image.fits", "sha256": sha256_file(demo_session.image)}]
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["flat_field"]["params"] == {"min_flat": 0.01}
    assert steps["flat_field"]["status"] == "COMPLETE"
    [ref] = steps["flat_field"]["refs"]
    assert ref == {"reftype": "flat", "name": "demo_flat_0001.fits", "sha256": sha256_file(demo_session.flat),
                   "overridden": True}
    assert record["software"]["calpipe"]
    assert record["software"]["numpy"] == np.__version__
    head = fits.getheader(out)
    assert (head["PIPELINE"], head["PIPEVER"], head["DATALVL"]) == ("generic_image2", "1.0.0", 2)
    assert head["CAL_VER"] == record["software"]["calpipe"]
    assert head["REFCTX"] == "NONE"
    assert (head["S_DQINIT"], head["S_FLATFI"]) == ("COMPLETE", "COMPLETE")
    assert (head["R_MASK"], head["R_FLAT"]) == ("demo_mask_0001.fits", "demo_flat_0001.fits")
    assert any("flat_field 1.0.0 COMPLETE" in h for h in head["HISTORY"])


def test_prov_json_export_links_input_and_references(demo_session, tmp_path):
    out = _runner(demo_session).run_file(demo_session.image, tmp_path)
    doc = json.loads(provenance.to_prov_document(provenance.read(out), out.name).serialize())
    entities = doc["entity"]
    assert f"sha256:{sha256_file(demo_session.image)}" in entities
    assert f"sha256:{sha256_file(demo_session.mask)}" in entities
    assert len(doc["activity"]) == 3  # the run and its two steps
    assert doc["used"]
    assert doc["wasGeneratedBy"]


def test_skip_is_recorded_and_honoured(demo_session, tmp_path):
    out = _runner(demo_session, Overrides(skip=["flat_field"])).run_file(demo_session.image, tmp_path)
    assert fits.getheader(out)["S_FLATFI"] == "SKIPPED"
    np.testing.assert_array_equal(open_product(out).data, open_product(demo_session.image).data)


def test_save_intermediates(demo_session, tmp_path):
    _runner(demo_session).run_file(demo_session.image, tmp_path, save_intermediates=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    # after flat_field, the last step, the product is demo_image_cal.fits itself: no second copy
    assert names == ["demo_image_cal.fits", "demo_image_dq_init.fits"]
    partial = provenance.read(tmp_path / "demo_image_dq_init.fits")
    assert [s["status"] for s in partial["steps"]] == ["COMPLETE"]


class Boom(Step):
    """Always fails."""

    name = "boom"
    version = "1.0.0"

    def process(self, product, refs, params):
        raise ZeroDivisionError("the algorithm blew up")


class BoomPlugin:
    @hookimpl
    def calpipe_steps(self):
        return [Boom]


def test_failing_step_writes_nothing_and_names_step_and_input(demo_session, tmp_path):
    pipe = tmp_path / "boom.yaml"
    pipe.write_text("name: boomer\nversion: 1.0.0\ninput: 2\noutput: 2\n"
                    "steps:\n  - {id: dq_init, step: dq_init}\n  - {id: kaboom, step: boom}\n")
    registry = Registry.load((BoomPlugin(),))
    out_dir = tmp_path / "out"
    with pytest.raises(StepFailedError) as err:
        _runner(demo_session, registry=registry, pipeline=str(pipe)).run_file(demo_session.image, out_dir)
    assert "step 'kaboom' failed on demo_image.fits: ZeroDivisionError" in str(err.value)
    assert err.value.exit_code == 1
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_missing_reference_fails_before_any_step(demo_session, tmp_path):
    p = resolve("generic_image2", get_registry())
    runner = Runner(p, OverrideResolver({"mask": demo_session.mask}), registry=get_registry())
    with pytest.raises(RefDataError, match=r"no reference file for type 'flat'.*--ref flat=PATH"):
        runner.run_file(demo_session.image, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_reference_of_the_wrong_type(demo_session, tmp_path):
    p = resolve("generic_image2", get_registry())
    runner = Runner(p, OverrideResolver({"mask": demo_session.flat, "flat": demo_session.flat}), registry=get_registry())
    with pytest.raises(RefDataError, match="REFTYPE = 'flat', but it was given as 'mask'"):
        runner.run_file(demo_session.image, tmp_path)


def test_reference_of_the_wrong_shape(demo_session, tmp_path):
    small = open_product(demo_session.mask)
    small.dq = small.dq[:64, :64].copy()
    path = write_atomic(small, tmp_path / "small_mask.fits")
    p = resolve("generic_image2", get_registry())
    runner = Runner(p, OverrideResolver({"mask": path, "flat": demo_session.flat}), registry=get_registry())
    # refused when opened, before any step: a demo mask covers the 128x128 detector
    with pytest.raises(RefDataError, match=r"small_mask.fits \(sha256 [0-9a-f]{16}…\) does not hold a demo "
                                           r"mask: DQ has shape 64x64, not 128x128") as err:
        runner.run_file(demo_session.image, tmp_path / "out")
    assert err.value.exit_code == 4
    assert not (tmp_path / "out").exists()


def test_wrong_level_and_wrong_instrument_are_bad_input(demo_session, tmp_path):
    runner = _runner(demo_session)
    from calpipe.core.models.products import RawModel

    raw = RawModel(data=np.zeros((2, 128, 128), np.uint16))  # DATAMODL and DATALVL agree: level 1
    raw.meta.instrument.name = "DEMO"
    with pytest.raises(InputDataError, match="DATALVL = 1, but pipeline generic_image2 takes level 2"):
        runner.check_input(raw, "x.fits")
    pipe = tmp_path / "nir.yaml"
    pipe.write_text("name: nir_only\nversion: 1.0.0\ninstrument: nir\ninput: 2\noutput: 2\n"
                    "steps:\n  - {id: flat_field, step: flat_field}\n")
    with pytest.raises(InputDataError, match="INSTRUME = 'DEMO', but pipeline nir_only is for 'nir'"):
        _runner(demo_session, pipeline=str(pipe)).check_input(open_product(demo_session.image), "x.fits")


def test_nan_pixels_are_flagged_not_propagated_silently(demo, tmp_path):
    image = open_product(demo.image)
    image.data[5, 7] = np.nan
    path = write_atomic(image, tmp_path / "nan_image.fits")
    cal = open_product(_runner(demo).run_file(path, tmp_path / "out"))
    assert cal.dq[5, 7] & DQ.DO_NOT_USE


def test_output_names_drop_the_input_suffix(demo_session, tmp_path):
    from pathlib import Path

    from calpipe.core.runner import output_stem

    assert output_stem(Path("nir_1_uncal.fits")) == "nir_1"
    assert output_stem(Path("nir_1_rate.fits"), "rate") == "nir_1"
    assert output_stem(Path("nir_1_rate.fits")) == "nir_1_rate"
    # a calpipe product knows the suffix it was written with: rerunning x_cal.fits gives x_cal.fits
    first = _runner(demo_session).run_file(demo_session.image, tmp_path / "a")
    again = _runner(demo_session).run_file(first, tmp_path / "b")
    assert again.name == "demo_image_cal.fits"


@pytest.mark.parametrize("min_flat", [0.0, 0.25])
def test_prov_json_is_read_back_by_the_prov_package_with_typed_values(demo_session, tmp_path, capsys, min_flat):
    from datetime import datetime, timedelta

    from prov.model import ProvActivity, ProvDocument, ProvEntity

    from calpipe.core.cli.calpipe import main as calpipe

    out = _runner(demo_session, Overrides(step_params={"flat_field": {"min_flat": min_flat}})).run_file(
        demo_session.image, tmp_path)
    assert calpipe(["provenance", str(out), "--prov-json"]) == 0
    doc = ProvDocument.deserialize(content=capsys.readouterr().out, format="json")  # prov's own reader
    record = provenance.read(out)
    by_id = {str(r.identifier): r for r in doc.get_records() if r.identifier is not None}

    def attrs(record_):
        return {str(k): v for k, v in record_.attributes}

    flat = by_id[f"calpipe:run/{record['run_id']}/flat_field"]
    assert isinstance(flat, ProvActivity)
    params = {k: v for k, v in attrs(flat).items() if k.startswith("param:")}
    assert params == {"param:min_flat": min_flat}
    assert type(params["param:min_flat"]) is float
    start, end = flat.get_startTime(), flat.get_endTime()
    step = next(s for s in record["steps"] if s["id"] == "flat_field")
    assert start == datetime.fromisoformat(step["started"])
    assert end - start == timedelta(seconds=step["duration_s"])
    run = by_id[f"calpipe:run/{record['run_id']}"]
    assert run.get_startTime() <= start
    assert run.get_endTime() >= end
    product = by_id[f"sha256:{sha256_file(out)}"]
    assert isinstance(product, ProvEntity)
    assert attrs(product)["calpipe:sha256"] == sha256_file(out)
    flat_ref = by_id[f"sha256:{sha256_file(demo_session.flat)}"]
    assert attrs(flat_ref)["calpipe:overridden"] is True  # a boolean, not the string 'True'
    assert attrs(flat_ref)["calpipe:sha256"] == sha256_file(demo_session.flat)
    used = {(str(u.get_attribute("prov:activity").pop()), str(u.get_attribute("prov:entity").pop()))
            for u in doc.get_records() if u.get_type().localpart == "Usage"}
    assert (str(flat.identifier), str(flat_ref.identifier)) in used  # the step used its reference file


def test_prov_json_encodes_null_and_lists_as_json_text():
    from prov.model import Literal

    record = {"run_id": "r", "date": "2026-01-01T00:00:01", "refdata_context": None,
              "pipeline": {"name": "p", "version": "1.0.0", "sha256": "0" * 64},
              "inputs": [], "software": {"calpipe": "0.1.0"},
              "steps": [{"id": "s", "name": "s", "version": "1.0.0", "status": "COMPLETE", "duration_s": 0.5,
                         "started": "2026-01-01T00:00:00.000", "refs": [],
                         "params": {"none": None, "sizes": [1, 2], "on": False}}]}
    step = next(r for r in provenance.to_prov_document(record, "x.fits").get_records()
                if str(r.identifier) == "calpipe:run/r/s")
    values = {str(k): v for k, v in step.attributes}
    assert values["param:on"] is False
    assert values["param:none"] == Literal("null", datatype=values["param:none"].datatype)
    assert json.loads(values["param:sizes"].value) == [1, 2]
