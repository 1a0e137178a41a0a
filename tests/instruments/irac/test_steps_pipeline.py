"""irac_bcd: the registered steps, the pipeline file, and a raw frame calibrated end to end in memory."""

import math

import numpy as np
import pytest

from calpipe.core.hookspecs import hookimpl
from calpipe.core.models.dqflags import DQ
from calpipe.core.pipeline import resolve
from calpipe.core.registry import Registry
from calpipe.instruments.irac.models import IracBcdModel
from calpipe.instruments.irac.steps.irac_linearity.algorithm import forward, fowler_factor
from calpipe.instruments.irac.steps.readout import frame_variance
from calpipe.instruments.irac.steps.step_classes import steps

from .helpers import EXPTIME, GAIN, RONOISE, B, N, W, encode, raw, reference

ORDER = ["irac_fowler", "dq_init", "irac_wraparound", "irac_saturation", "irac_dark", "irac_firstframe",
         "irac_muxbleed", "irac_linearity", "flat_field", "irac_jailbar", "irac_pulldown", "irac_radhit",
         "irac_fluxconv"]


class _Steps:
    """Registers the IRAC steps even before the irac plugin does (the same classes: no conflict)."""

    @hookimpl
    def calpipe_steps(self):
        return steps()


@pytest.fixture(scope="module")
def pipeline():
    from importlib.resources import files

    registry = Registry.load(extra_plugins=(_Steps(),))
    return resolve(str(files("calpipe.instruments.irac") / "pipelines" / "irac_bcd-1.0.0.yaml"), registry)


def test_step_classes_lists_every_irac_step_once():
    classes = steps()
    assert len({c.name for c in classes}) == len(classes) == 11
    assert all(c.name.startswith("irac_") and c.version == "1.0.0" and c.instruments == ("irac",) for c in classes)


def test_pipeline_file_resolves_in_order_with_its_references(pipeline):
    assert (pipeline.name, pipeline.version, pipeline.instrument) == ("irac_bcd", "1.0.0", "irac")
    assert (pipeline.input_level, pipeline.output_level, pipeline.suffix, pipeline.refdata) == (1, 2, "bcd", 3)
    assert [s.id for s in pipeline.steps] == ORDER, "step ids in order"
    assert [s.step.name for s in pipeline.steps] == ORDER, "step names in order"
    assert pipeline.reftypes() == ["mask", "dark", "firstframe", "linearity", "flat", "fluxconv"]


def test_a_raw_frame_is_calibrated_to_the_true_sky(pipeline):
    rng = np.random.default_rng(8)
    shape, sky, fluxconv, alpha, delay = (64, 64), 5.0, 0.1069, -2.0e-6, 1000.0
    flat = 1.0 + 0.02 * rng.standard_normal(shape)
    flat[5, 7] = 0.0  # a dead pixel: in the mask and unusable in the flat
    dark = 3.0 + 0.5 * rng.standard_normal(shape)
    ff = np.stack([np.full(shape, 1.0), np.full(shape, -2.0)])  # offset 1 - 2 log10(1000) = -5 DN
    jail = np.array([-1.5, 0.5, 0.5, 0.5])[np.arange(64) % 4]
    linear = sky / fluxconv * EXPTIME * flat  # DN per frame of the light
    measured = forward(linear, alpha, fowler_factor(N, W))
    noise = rng.standard_normal(shape) * np.sqrt(frame_variance(measured, GAIN, RONOISE, N, W, 0))
    value = measured + noise + dark + (ff[0] + ff[1] * math.log10(delay)) + jail[None, :]
    model = raw(encode(np.rint(N * value)), delay=delay)  # the integer Fowler sum, shifted and inverted
    mask = np.zeros(shape, np.uint32)
    mask[5, 7] = DQ.DEAD | DQ.DO_NOT_USE
    refs = {"mask": reference("mask", dq=mask), "dark": reference("dark", dark),
            "firstframe": reference("firstframe", ff), "linearity": reference("linearity", np.full((1, *shape), alpha)),
            "flat": reference("flat", flat, err=np.zeros(shape)), "fluxconv": reference("fluxconv", fluxconv=fluxconv)}
    product = model
    for s in pipeline.steps:
        product = s.step().process(product, {t: refs[t] for t in s.step.reftypes}, s.params)
    assert isinstance(product, IracBcdModel), "product is a BCD model"
    assert product.meta.bunit_data == "MJy/sr", "data unit"
    assert product.data.dtype == np.float32, "data dtype"
    assert product.artifacts.dtype == np.uint16, "artifacts dtype"
    good = (product.dq & DQ.DO_NOT_USE) == 0
    assert product.dq[5, 7] & DQ.DEAD, "the dead pixel is flagged DEAD"
    assert good.sum() == 64 * 64 - 1, "every other pixel is good"
    assert abs(product.data[good].mean() / sky - 1) < 0.002  # within 0.2 %
    pull = (product.data - sky)[good] / product.err[good]
    assert abs(pull.mean()) < 0.1, "pull mean near 0"
    assert 0.9 < pull.std() < 1.1, "pull std near 1"
    assert product.meta.irac.fluxconv == fluxconv, "fluxconv"
    assert product.meta.irac.gain == GAIN, "gain"
    assert B == 3, "barrel shift"
