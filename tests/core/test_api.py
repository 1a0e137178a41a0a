"""The public run API: what strun runs on, with the registry passed explicitly."""

from __future__ import annotations

import numpy as np
import pytest

from calpipe.core import api
from calpipe.core.errors import InputDataError, RefDataError, UsageError
from calpipe.core.hookspecs import hookimpl
from calpipe.core.io import open_product
from calpipe.core.registry import Registry
from calpipe.steps.flat_field.step import FlatFieldStep


def test_run_returns_what_it_wrote_in_input_order(demo_session, tmp_path):
    refs = {"mask": demo_session.mask, "flat": demo_session.flat}
    report = api.run("generic_image2", [demo_session.image], tmp_path, refs=refs)
    assert report.outputs == [tmp_path / "demo_image_cal.fits"]
    assert report.failed == []
    assert report.exit_code == 0
    assert open_product(report.outputs[0]).meta.pipeline.name == "generic_image2"


def test_a_failing_input_is_collected_or_raised_and_the_others_still_run(demo_session, tmp_path):
    bad = tmp_path / "in" / "bad.fits"
    bad.parent.mkdir()
    bad.write_bytes(b"not fits")
    refs = {"mask": demo_session.mask, "flat": demo_session.flat}
    report = api.run("generic_image2", [bad, demo_session.image], tmp_path / "out", refs=refs)
    assert [o.input.name for o in report.outcomes] == ["bad.fits", "demo_image.fits"]
    assert report.exit_code == 3
    assert "bad.fits" in report.failed[0].error
    assert report.outputs == [tmp_path / "out" / "demo_image_cal.fits"]
    with pytest.raises(InputDataError, match=r"bad\.fits"):
        api.run("generic_image2", [bad], tmp_path / "raised", refs=refs, on_error="raise")


def test_everything_is_checked_before_any_data_is_touched(demo_session, tmp_path):
    with pytest.raises(UsageError, match="uses no 'dark' reference"):
        api.run("generic_image2", [demo_session.image], tmp_path / "out", refs={"dark": demo_session.mask})
    with pytest.raises(RefDataError, match="file not found"):
        api.run("generic_image2", [demo_session.image], tmp_path / "out", refs={"mask": tmp_path / "no.fits"})
    with pytest.raises(UsageError, match="-j must be at least 1"):
        api.run("generic_image2", [demo_session.image], tmp_path / "out", jobs=0)
    with pytest.raises(UsageError, match="jobs=1"):
        api.run("generic_image2", [demo_session.image], tmp_path / "out", jobs=2, on_error="raise")
    assert not (tmp_path / "out").exists()


class Brighter(FlatFieldStep):
    """A newer flat_field whose output is 2x: only a registry that has it can run it."""

    version = "9.0.0"

    def process(self, product, refs, params):
        product = super().process(product, refs, params)
        product.data = product.data * 2
        return product


class BrighterPlugin:
    @hookimpl
    def calpipe_steps(self):
        return [Brighter]


def test_the_registry_given_is_the_one_used(demo_session, tmp_path):
    refs = {"mask": demo_session.mask, "flat": demo_session.flat}
    registry = Registry.load((BrighterPlugin(),))
    [plain] = api.run("generic_image2", [demo_session.image], tmp_path / "a", refs=refs).outputs
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\nversion: 1.0.0\ninput: 2\noutput: 2\nsuffix: cal\nsteps:\n"
                        "  - {id: dq_init, step: dq_init}\n  - {id: flat_field, step: flat_field}\n")
    [bright] = api.run(pipeline, [demo_session.image], tmp_path / "b", refs=refs, registry=registry).outputs
    a, b = open_product(plain), open_product(bright)
    good = (a.dq & 1) == 0
    assert np.allclose(b.data[good], 2 * a.data[good], rtol=1e-6)
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(pipeline.read_text().replace("step: flat_field}", "step: flat_field, version: 9.0.0}"))
    assert api.load(pinned, registry).steps[1].step is Brighter
    with pytest.raises(UsageError, match=r"no version 9\.0\.0"):
        api.load(pinned)  # the installed plugins alone do not have it
