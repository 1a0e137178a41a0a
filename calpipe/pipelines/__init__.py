"""Generic pipeline definitions shipped with calpipe (an instrument's own live in its plugin's
``pipelines/`` folder). Released files are never edited."""

from pathlib import Path

from calpipe.core.hookspecs import hookimpl, shipped_pipelines


@hookimpl
def calpipe_pipelines() -> list[Path]:
    return shipped_pipelines(__name__, ".")
