"""The IRAC step classes, for the plugin's ``calpipe_steps`` hook."""

from __future__ import annotations

from calpipe.core.step import Step


def steps() -> list[type[Step]]:
    """Every IRAC step class (each version that must stay runnable)."""
    from .irac_dark.step import IracDarkStep
    from .irac_firstframe.step import IracFirstFrameStep
    from .irac_fluxconv.step import IracFluxConvStep
    from .irac_fowler.step import IracFowlerStep
    from .irac_jailbar.step import IracJailbarStep
    from .irac_linearity.step import IracLinearityStep
    from .irac_muxbleed.step import IracMuxbleedStep
    from .irac_pulldown.step import IracPulldownStep
    from .irac_radhit.step import IracRadhitStep
    from .irac_saturation.step import IracSaturationStep
    from .irac_wraparound.step import IracWraparoundStep

    return [IracFowlerStep, IracWraparoundStep, IracSaturationStep, IracDarkStep, IracFirstFrameStep,
            IracMuxbleedStep, IracLinearityStep, IracJailbarStep, IracPulldownStep, IracRadhitStep,
            IracFluxConvStep]
