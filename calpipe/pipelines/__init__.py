"""Pipeline definitions shipped with calpipe. Released files are never edited."""

from importlib import resources
from pathlib import Path

from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_pipelines() -> list[Path]:
    root = Path(str(resources.files(__name__)))
    return sorted(root.rglob("*.yaml"))
