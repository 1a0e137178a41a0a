"""The MIPS step classes, for the plugin's ``calpipe_steps`` hook."""

from __future__ import annotations

from calpipe.core.step import Step


def steps() -> list[type[Step]]:
    """Every MIPS step class (each version that must stay runnable)."""
    from .mips24_cosmicray.step import Mips24CosmicRayStep
    from .mips24_dark.step import Mips24DarkStep
    from .mips24_droop.step import Mips24DroopStep
    from .mips24_flat.step import Mips24FlatStep
    from .mips24_jailbar.step import Mips24JailbarStep
    from .mips24_linearity.step import Mips24LinearityStep
    from .mips24_saturation.step import Mips24SaturationStep
    from .mips24_slope.step import Mips24SlopeStep
    from .mips_ge_ramps.step import MipsGeRampsStep
    from .mips_ge_slope.step import MipsGeSlopeStep
    from .mips_illumination.step import MipsIlluminationStep
    from .mips_source_catalog.step import MipsSourceCatalogStep
    from .mips_stim_response.step import MipsStimResponseStep

    return [Mips24SlopeStep, Mips24SaturationStep, Mips24LinearityStep, Mips24DroopStep, Mips24DarkStep,
            Mips24FlatStep, Mips24JailbarStep, Mips24CosmicRayStep, MipsGeRampsStep, MipsGeSlopeStep,
            MipsStimResponseStep, MipsIlluminationStep, MipsSourceCatalogStep]
