"""What this distribution adds to calpipe; named by the ``calpipe`` entry point in pyproject.toml.

Step modules are imported inside the hooks, so `calpipe list` and `strun --help`
stay fast and never load numerical code they do not need.
"""

from importlib import resources
from pathlib import Path

from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_steps():
    from .scale_offset.step import ScaleOffsetStep, ScaleOffsetStep_1_0_0

    # Every version that should stay runnable: products made with 1.0.0 can be remade.
    return [ScaleOffsetStep_1_0_0, ScaleOffsetStep]


@hookimpl
def calpipe_pipelines() -> list[Path]:
    return [Path(str(resources.files(__package__) / "example_scale.yaml"))]
