"""Multi-input runs: associations, combining steps, per-member steps, provenance of every member."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from calpipe.core import provenance
from calpipe.core.api import run
from calpipe.core.association import ProductSet, group_name, load_association
from calpipe.core.cli.strun import main as strun
from calpipe.core.errors import InputDataError
from calpipe.core.hookspecs import hookimpl
from calpipe.core.io import open_product
from calpipe.core.pipeline import Overrides
from calpipe.core.provenance import sha256_file
from calpipe.core.registry import Registry
from calpipe.core.step import Step
from calpipe.instruments.demo.simulate import make_demo_data


class StackMean(Step):
    """Mean of the members' SCI arrays (a combining step for these tests)."""

    name = "stack_mean"
    version = "1.0.0"
    combines = True

    def process(self, members, refs, params):
        out = members.first().copy()
        out.data = np.mean([p.data for p in members.products], axis=0)
        return out


class SplitHalves(Step):
    """Two products from the stack: the mean of the first and of the second half (a set out)."""

    name = "split_halves"
    version = "1.0.0"
    combines = True

    def process(self, members, refs, params):
        products = members.products
        half = len(products) // 2
        out = []
        for label, part in (("first", products[:half]), ("second", products[half:])):
            model = part[0].copy()
            model.data = np.mean([p.data for p in part], axis=0)
            out.append((label, model))
        return ProductSet(out)


class Plugin:
    @hookimpl
    def calpipe_steps(self):
        return [StackMean, SplitHalves]


PIPELINE = """name: stack
version: 1.0.0
input: 2
output: 3
suffix: stack
steps:
  - {{id: dq_init, step: dq_init}}
  - {{id: combine, step: {step}}}
"""


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Three calibrated demo images with different noise, named like one observation's frames."""
    root = tmp_path_factory.mktemp("members")
    paths = []
    for k in range(3):
        files = make_demo_data(root / f"sim{k}", seed=10 + k)
        raw = root / "sim" / f"OBS_0042_{k + 1:04d}.fits"
        raw.parent.mkdir(exist_ok=True)
        shutil.copy(files.image, raw)
        run("generic_image2", [raw], root / "obs", refs={"mask": files.mask, "flat": files.flat},
            on_error="raise")
        paths.append(root / "obs" / f"OBS_0042_{k + 1:04d}_cal.fits")
    return paths, files.mask


@pytest.fixture
def stack(monkeypatch, members, tmp_path):
    """Run ``strun`` with the test steps registered on a pipeline combining with ``step``."""
    registry = Registry.load((Plugin(),))
    monkeypatch.setattr("calpipe.core.registry.get_registry", lambda: registry)
    monkeypatch.setenv("CALPIPE_ALLOWED_DIRS", str(members[0][0].parent))  # members named from elsewhere
    mask = members[1]

    def run(inputs, step="stack_mean", *extra):
        pipeline = tmp_path / f"{step}.yaml"
        pipeline.write_text(PIPELINE.format(step=step))
        return strun([str(pipeline), *map(str, inputs), "-o", str(tmp_path / "out"), "-q",
                      "--ref", f"mask={mask}", *extra])

    return run


def test_association_is_one_run_with_every_member_in_provenance(members, stack, tmp_path):
    paths = members[0]
    asn = tmp_path / "obs42.yaml"
    asn.write_text("name: OBS_0042\nobservation: '42'\nmembers:\n" + "".join(f"  - {p}\n" for p in paths))
    assert stack([asn]) == 0
    out = tmp_path / "out" / "OBS_0042_stack.fits"
    product = open_product(out)
    expected = np.mean([open_product(p).data for p in paths], axis=0)
    np.testing.assert_allclose(product.data, expected, rtol=1e-6)
    assert product.meta.data_level == 3
    record = provenance.read(out)
    assert [(i["name"], i["sha256"]) for i in record["inputs"]] == [(p.name, sha256_file(p)) for p in paths]
    assert [i["provenance"]["pipeline"]["name"] for i in record["inputs"]] == ["generic_image2"] * 3
    assert [(s["id"], s["status"]) for s in record["steps"]] == [("dq_init", "COMPLETE"),
                                                                ("combine", "COMPLETE")]


def test_loose_files_form_one_group_named_by_their_common_stem(members, stack, tmp_path):
    assert stack(members[0]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["OBS_0042_stack.fits"]
    assert group_name([tmp_path / "a.fits", tmp_path / "b.fits"], "fallback") == "fallback"
    # two arrays of one AOR keep the AORKEY (fields equal at the same place), not just "SPITZER"
    mips = [tmp_path / "SPITZER_M1_23456789_0001_0001_0000_bcd.fits",
            tmp_path / "SPITZER_M2_23456789_0002_0002_0000_bcd.fits"]
    assert group_name(mips, "x") == "SPITZER_23456789_0000"


def test_a_set_of_products_is_written_one_file_per_label(members, stack, tmp_path):
    paths = members[0]
    assert stack(paths, "split_halves") == 0
    first = open_product(tmp_path / "out" / "OBS_0042_stack_first.fits")
    second = open_product(tmp_path / "out" / "OBS_0042_stack_second.fits")
    np.testing.assert_allclose(first.data, open_product(paths[0]).data, rtol=1e-6)
    np.testing.assert_allclose(second.data, np.mean([open_product(p).data for p in paths[1:]], axis=0),
                               rtol=1e-6)
    assert len(provenance.read(tmp_path / "out" / "OBS_0042_stack_first.fits")["inputs"]) == 3


def test_a_bad_member_stops_the_run_and_writes_nothing(members, stack, tmp_path):
    broken = tmp_path / "OBS_0042_0004_cal.fits"
    broken.write_bytes(members[0][0].read_bytes()[:5000])
    assert stack([*members[0], broken]) == 3
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("text, fragment", [
    ("name: x\nmembers: []\n", "members"),
    ("name: x\nmembers: [nothere.fits]\nextra: 1\n", "extra"),
    ("members: [a.fits]\n", "name"),
    ("name: x\nmembers: [nothere.fits]\n", "member(s) not found: "),
    (": : :\n", "not a readable association"),
])
def test_bad_association_files_are_refused_with_the_reason(tmp_path, text, fragment):
    asn = tmp_path / "bad.yaml"
    asn.write_text(text)
    with pytest.raises(InputDataError) as err:
        load_association(asn)
    assert str(asn) in str(err.value)
    assert fragment in str(err.value)


def test_json_association_and_relative_members(members, tmp_path):
    paths = members[0]
    asn = paths[0].parent / "obs.json"
    asn.write_text(json.dumps({"name": "OBS", "members": [p.name for p in paths]}))
    group = load_association(asn)
    assert group.name == "OBS"
    assert list(group.members) == paths
    assert group.source == asn


def test_an_ordinary_pipeline_runs_each_member_of_an_association(members, tmp_path, monkeypatch):
    paths, mask = members
    monkeypatch.setenv("CALPIPE_ALLOWED_DIRS", str(paths[0].parent))  # members named from elsewhere
    asn = tmp_path / "obs.yaml"
    asn.write_text("name: OBS\nmembers:\n" + "".join(f"  - {p}\n" for p in paths))
    run("generic_image2", [asn], tmp_path / "out", overrides=Overrides(skip=["flat_field"]),
        refs={"mask": mask}, on_error="raise")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"OBS_0042_{k:04d}_cal.fits" for k in (1, 2, 3)]


def test_a_loose_file_given_twice_is_refused(members, stack, tmp_path, capsys):
    paths = members[0]
    assert stack([paths[0], paths[0], paths[1]]) == 2
    assert "given more than once" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dry_run_checks_every_member_and_writes_nothing(members, stack, tmp_path, capsys):
    paths = members[0]
    asn = tmp_path / "obs.yaml"
    asn.write_text("name: OBS\nmembers:\n" + "".join(f"  - {p}\n" for p in paths))
    assert stack([asn], "stack_mean", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"{asn}: 3 members" in out
    assert "nothing written" in out
    assert not (tmp_path / "out").exists()
