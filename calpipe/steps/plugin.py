"""Registers the generic steps through the same entry point a third-party plugin uses."""

from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_steps():
    from .assign_wcs.step import AssignWcsStep
    from .band_merge.step import BandMergeStep
    from .common_mode.step import CommonModeStep
    from .dark_current.step import DarkCurrentStep
    from .dq_init.step import DQInitStep
    from .flat_field.step import FlatFieldStep
    from .gain_scale.step import GainScaleStep
    from .group_scale.step import GroupScaleStep
    from .jump.step import JumpStep, JumpStepV1_1
    from .linearity.step import LinearityStep
    from .mosaic.step import MosaicStep
    from .photom.step import PhotomStep
    from .ramp_fit.step import RampFitStep, RampFitStepV1_1
    from .refpix.step import RefPixStep
    from .saturation.step import SaturationStep
    from .source_catalog.step import SourceCatalogStep, SourceCatalogStep110
    from .source_list.step import SourceListStep
    from .superbias.step import SuperBiasStep

    return [AssignWcsStep, BandMergeStep, CommonModeStep, DarkCurrentStep, DQInitStep, FlatFieldStep,
            GainScaleStep, GroupScaleStep, JumpStep, JumpStepV1_1, LinearityStep, MosaicStep, PhotomStep,
            RampFitStep, RampFitStepV1_1, RefPixStep, SaturationStep, SourceCatalogStep, SourceCatalogStep110,
            SourceListStep, SuperBiasStep]
