"""The calpipe_calibrations hook: which calibration pipeline makes which reftype from which exposures."""

import pytest

from calpipe.core.errors import RegistryError
from calpipe.core.hookspecs import Calibration, hookimpl
from calpipe.core.registry import Registry


class _Plugin:
    def __init__(self, *cals):
        self.cals = list(cals)

    @hookimpl
    def calpipe_calibrations(self):
        return self.cals


def _header(**values):
    return lambda key: values.get(key)


def test_a_calibration_naming_an_unshipped_pipeline_is_refused():
    reg = Registry.load(extra_plugins=(_Plugin(Calibration("demo", "dark", "no_such_cal", (("KIND", "DARK"),))),),
                        entry_points=False)
    with pytest.raises(RegistryError, match="no_such_cal"):
        _ = reg.calibrations


def test_an_exposure_feeds_every_calibration_whose_keywords_it_matches():
    reg = Registry.load()
    pipeline = reg.pipeline_names()[0]
    dark = Calibration("demo", "dark", pipeline, (("KIND", "DARK"),))
    mask = Calibration("demo", "mask", pipeline, (("KIND", "DARK"),))
    bias = Calibration("demo", "superbias", pipeline, (("KIND", "BIAS"),))
    reg = Registry.load(extra_plugins=(_Plugin(dark, mask, bias),))
    assert reg.calibrations_for("DEMO", _header(KIND="DARK")) == [dark, mask]


def test_a_science_exposure_feeds_no_calibration():
    reg = Registry.load()
    pipeline = reg.pipeline_names()[0]
    reg = Registry.load(extra_plugins=(_Plugin(Calibration("demo", "dark", pipeline, (("KIND", "DARK"),))),))
    assert reg.calibrations_for("demo", _header(KIND="SCIENCE")) == []
