"""calpipe reproduce / reprocess: bit-for-bit remakes, plain refusals, and what --latest changes."""

from __future__ import annotations

import os
from importlib import metadata

import numpy as np
import pytest

from calpipe.core import fingerprint, provenance
from calpipe.core.api import run
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.errors import InputDataError, RefDataError, UsageError
from calpipe.core.hookspecs import hookimpl
from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.products import ReferenceFileModel
from calpipe.core.registry import Registry, get_registry
from calpipe.refdata.builtin import init
from calpipe.refdata.store import Store
from calpipe.reproduce import rerun
from calpipe.steps.flat_field.step import FlatFieldStep


@pytest.fixture
def made(demo, tmp_path):
    """A generic_image2 product made with built-in context 1 in a private store."""
    root = tmp_path / "store"
    init(Store(root), get_registry(), upto=1)
    run("generic_image2", [demo.image], tmp_path / "v1", refdata=root, on_error="raise")
    return tmp_path / "v1" / "demo_image_cal.fits", demo.image, Store(root)


def publish_brighter_flat(store, tmp_path, factor=2.0):
    old = open_product(next(store.file_path(r.sha256) for r in store.load(1).files().values()
                            if r.name.startswith("demo_flat")))
    flat = ReferenceFileModel(data=old.data * factor, err=old.err, dq=old.dq)
    flat.meta.reftype, flat.meta.useafter = "flat", "2020-01-01T00:00:00"
    flat.meta.instrument.name, flat.meta.instrument.detector = "DEMO", "DEMO1"
    store.add(write_atomic(flat, tmp_path / "demo_flat_0002.fits"), get_registry().reftypes)
    return store.publish("flat recalibrated", "tester", get_registry().reftypes)


class FlatFieldV2(FlatFieldStep):
    """A newer flat_field whose output differs."""

    version = "1.1.0"

    def process(self, product, refs, params):
        product = super().process(product, refs, params)
        product.data = product.data * 1.01
        return product


class NewerSteps:
    @hookimpl
    def calpipe_steps(self):
        return [FlatFieldV2]


def test_identical_after_newer_steps_and_contexts_appear(made, tmp_path, capsys):
    product, raw, store = made
    publish_brighter_flat(store, tmp_path)
    registry = Registry.load((NewerSteps(),))
    assert registry.step("flat_field") is FlatFieldV2  # newest is not what made the product
    new, drift = rerun.reproduce(product, registry, store, tmp_path / "again", search=[raw.parent])
    assert drift == []
    a, b = open_product(product), open_product(new)
    for name in ("data", "err", "dq"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert calpipe(["reproduce", str(product), "--refdata", str(store.root), "--search", str(raw.parent)]) == 0
    assert "IDENTICAL (SCI, ERR, DQ bit for bit)" in capsys.readouterr().out


def test_a_changed_result_is_shown_and_exits_5(made, tmp_path, capsys, monkeypatch):
    product, raw, store = made
    original = FlatFieldStep.process

    def changed(self, product, refs, params):  # same version, other output: what locks must catch
        product = original(self, product, refs, params)
        product.data = product.data * 1.01
        return product

    monkeypatch.setattr(FlatFieldStep, "process", changed)
    assert calpipe(["reproduce", str(product), "--refdata", str(store.root), "--search", str(raw.parent)]) == 5
    out = capsys.readouterr().out
    sci = next(line for line in out.splitlines() if line.startswith("SCI"))
    assert sci.split()[1] == "16384"
    assert float(sci.split()[3]) == pytest.approx(0.0099, abs=1e-4)  # 1 %
    assert "DQ      identical" in out


def test_step_version_no_longer_registered(made, tmp_path):
    product, raw, store = made

    class Empty:
        pass

    registry = Registry.load((Empty(),), entry_points=False)
    with pytest.raises(UsageError, match=r"unknown step 'dq_init'.*install the calpipe release that had it"):
        rerun.reproduce(product, registry, store, tmp_path / "x", search=[raw.parent])


def test_reference_missing_from_store(made, tmp_path):
    product, raw, store = made
    flat = next(r for r in store.load(1).files().values() if r.name.startswith("demo_flat"))
    path = store.file_path(flat.sha256)
    os.chmod(path, 0o644)
    path.unlink()
    with pytest.raises(RefDataError, match=r"reference file demo_flat_0001\.fits .* is not in the store"):
        rerun.reproduce(product, get_registry(), store, tmp_path / "x", search=[raw.parent])
    assert not (tmp_path / "x").exists()


def test_software_drift_is_refused_unless_allowed(made, tmp_path, monkeypatch):
    product, raw, store = made
    real = rerun.software_versions

    def newer(plugins):
        versions = real(plugins)
        versions["numpy"] = "99.0.0"
        return versions

    monkeypatch.setattr(rerun, "software_versions", newer)
    with pytest.raises(UsageError, match=r"numpy .* -> 99\.0\.0.*--allow-software-drift"):
        rerun.reproduce(product, get_registry(), store, tmp_path / "x", search=[raw.parent])
    new, drift = rerun.reproduce(product, get_registry(), store, tmp_path / "x", search=[raw.parent],
                                 allow_software_drift=True)
    assert drift == [f"numpy {np.__version__} -> 99.0.0"]
    assert new.is_file()


def test_input_not_found_or_different(made, tmp_path):
    product, raw, store = made
    moved = tmp_path / "elsewhere" / raw.name
    moved.parent.mkdir()
    os.replace(raw, moved)
    with pytest.raises(InputDataError, match=r"input\(s\) of demo_image_cal\.fits not found in .*demo_image\.fits "
                                             r"\(sha256 .*pass --input FILE"):
        rerun.reproduce(product, get_registry(), store, tmp_path / "x")
    other = tmp_path / "other.fits"
    image = open_product(moved)
    image.data[0, 0] += 1
    write_atomic(image, other)
    with pytest.raises(InputDataError, match=r"other\.fits: not an input demo_image_cal\.fits was made from"):
        rerun.reproduce(product, get_registry(), store, tmp_path / "x", given=[other])
    new, _ = rerun.reproduce(product, get_registry(), store, tmp_path / "x", search=[moved.parent])
    assert open_product(new).data.tobytes() == open_product(product).data.tobytes()


def test_edited_definition_is_detected(made, tmp_path):
    product, raw, store = made
    model = open_product(product)
    record = model.meta.provenance.instance
    record["pipeline"]["definition"] = record["pipeline"]["definition"].replace('"min_flat":0.0', '"min_flat":0.5')
    write_atomic(model, tmp_path / "edited" / product.name)
    with pytest.raises(InputDataError, match="does not match its sha256"):
        rerun.reproduce(tmp_path / "edited" / product.name, get_registry(), store, tmp_path / "x",
                        search=[raw.parent])


def test_output_dir_may_not_overwrite_the_product(made, capsys):
    product, _, store = made
    assert calpipe(["reproduce", str(product), "--refdata", str(store.root), "-o", str(product.parent)]) == 2
    assert "would overwrite demo_image_cal.fits" in capsys.readouterr().err


def test_reprocess_latest_reports_what_changed(made, tmp_path, capsys):
    product, raw, store = made
    publish_brighter_flat(store, tmp_path, factor=2.0)
    assert calpipe(["reprocess", "--latest", str(product), "--refdata", str(store.root),
                    "--search", str(raw.parent), "-o", str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "pipeline generic_image2 1.0.0 -> 1.0.0 (same definition)" in out
    assert "reference context 0001 -> 1000" in out
    assert "flat: demo_flat_0001.fits -> demo_flat_0002.fits" in out
    assert "mask:" not in out  # unchanged references are not listed
    assert "median ratio new/old 0.500000" in out
    assert (tmp_path / "new" / "demo_image_cal.fits").is_file()


def test_source_lists_are_compared_row_by_row():
    from types import SimpleNamespace

    from calpipe.core.models.products import SourceCatalogModel
    from calpipe.reproduce.compare import compare_arrays

    rows = np.zeros(3, dtype=SourceCatalogModel().get_dtype("sources"))
    rows["flux_psf"] = [1.0, np.nan, 3.0]
    other = rows.copy()
    other["flux_psf"][2] = np.nextafter(3.0, 4.0)  # one bit
    same, changed = (compare_arrays(SimpleNamespace(sources=rows), SimpleNamespace(sources=r))
                     for r in (rows.copy(), other))
    assert [(d.name, d.identical) for d in same] == [("SOURCES", True)]
    assert [(d.name, d.identical, d.differing) for d in changed] == [("SOURCES", False, 1)]


def test_reprocess_takes_context_and_ref_like_strun(made, tmp_path, capsys):
    product, raw, store = made
    publish_brighter_flat(store, tmp_path, factor=2.0)
    base = ["reprocess", "--latest", str(product), "--refdata", str(store.root), "--search", str(raw.parent)]
    assert calpipe([*base, "--context", "1"]) == 0
    out = capsys.readouterr().out
    assert "reference context 0001 -> 0001" in out
    assert "median ratio new/old 1.000000" in out
    flat = tmp_path / "demo_flat_0002.fits"  # the brighter flat, given as an override on context 1
    assert calpipe([*base, "--context", "1", "--ref", f"flat={flat}", "-o", str(tmp_path / "new")]) == 0
    assert "median ratio new/old 0.500000" in capsys.readouterr().out
    record = provenance.read(tmp_path / "new" / product.name)
    refs = {r["reftype"]: r for s in record["steps"] for r in s["refs"]}
    assert refs["flat"]["overridden"] is True
    assert refs["mask"]["overridden"] is False
    assert calpipe([*base, "--ref", f"dark={flat}"]) == 2
    assert "generic_image2 1.0.0 uses no 'dark' reference" in capsys.readouterr().err


@pytest.mark.parametrize("field, value", [("blas", ["openblas Prescott"]), ("numba_cpu", "generic"),
                                          ("numpy_simd", ["X86_V2"])])
def test_changed_bytes_on_another_platform_say_the_platform_differs(made, capsys, monkeypatch, field, value):
    product, raw, store = made
    original = FlatFieldStep.process

    def changed(self, product, refs, params):
        product = original(self, product, refs, params)
        product.data = product.data * (1 + 1e-6)
        return product

    here = fingerprint.platform_fingerprint()
    monkeypatch.setattr(FlatFieldStep, "process", changed)
    monkeypatch.setattr(fingerprint, "platform_fingerprint", lambda: {**here, field: value})
    assert calpipe(["reproduce", str(product), "--refdata", str(store.root), "--search", str(raw.parent)]) == 5
    out = capsys.readouterr().out
    assert "the platform differs from the product's" in out
    assert f"platform {field} " in out
    assert fingerprint._text(value) in out


def test_changed_bytes_on_the_same_platform_do_not_blame_it(made, capsys, monkeypatch):
    product, raw, store = made
    original = FlatFieldStep.process

    def changed(self, product, refs, params):
        product = original(self, product, refs, params)
        product.data = product.data * (1 + 1e-6)
        return product

    monkeypatch.setattr(FlatFieldStep, "process", changed)
    assert calpipe(["reproduce", str(product), "--refdata", str(store.root), "--search", str(raw.parent)]) == 5
    assert "platform" not in capsys.readouterr().out


def test_a_product_without_a_platform_record_says_it_is_unknown():
    from calpipe.reproduce.plugin import platform_note

    lines = platform_note({"software": {"numpy": np.__version__}})
    assert lines[0].startswith("the platform differs")
    assert "not recorded" in lines[1]


def test_platform_is_not_software_drift_and_unrecorded_libraries_are_unknown(made):
    product, _, _ = made
    record = rerun.load_record(product)
    record["software"]["platform"] = {**record["software"]["platform"], "blas": ["openblas Prescott"]}
    del record["software"]["scipy"]  # an older product that did not record scipy
    assert rerun.software_drift(record, get_registry(), {"calpipe"}) == []
    record["software"]["photutils"] = "0.1"
    assert rerun.software_drift(record, get_registry(), {"calpipe"}) == [
        f"photutils 0.1 -> {metadata.version('photutils')}"]
