"""Registers the generic steps through the same entry point a third-party plugin uses."""

from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_steps():
    from .assign_wcs.step import AssignWcsStep
    from .band_merge.step import BandMergeStep
    from .dark_current.step import DarkCurrentStep
    from .dq_init.step import DQInitStep
    from .flat_field.step import FlatFieldStep
    from .gain_scale.step import GainScaleStep
    from .group_scale.step import GroupScaleStep
    from .jump.step import JumpStep
    from .linearity.step import LinearityStep
    from .mosaic.step import MosaicStep
    from .photom.step import PhotomStep
    from .ramp_fit.step import RampFitStep
    from .refpix.step import RefPixStep
    from .saturation.step import SaturationStep
    from .source_catalog.step import SourceCatalogStep, SourceCatalogStep110
    from .source_list.step import SourceListStep
    from .superbias.step import SuperBiasStep

    return [AssignWcsStep, BandMergeStep, DarkCurrentStep, DQInitStep, FlatFieldStep, GainScaleStep,
            GroupScaleStep, JumpStep, LinearityStep, MosaicStep, PhotomStep, RampFitStep, RefPixStep,
            SaturationStep, SourceCatalogStep, SourceCatalogStep110, SourceListStep, SuperBiasStep]
