"""Where files named inside other files may come from.

A pipeline's imports and an association's members are paths written in a file
that may come from anyone; they resolve only under that file's directory (or a
directory the user allows in $CALPIPE_ALLOWED_DIRS), so such a file cannot make
calpipe read, and quote in a message, any other file on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

ALLOWED_DIRS_ENV = "CALPIPE_ALLOWED_DIRS"


def allowed_dirs() -> list[Path]:
    """The directories of $CALPIPE_ALLOWED_DIRS (os.pathsep-separated), resolved."""
    return [Path(d).resolve() for d in os.environ.get(ALLOWED_DIRS_ENV, "").split(os.pathsep) if d]


def outside(target: Path, home: Path, extra: list[Path] | None = None) -> bool:
    """True unless ``target`` (symlinks followed) lies under ``home``, ``extra`` or an allowed directory."""
    real = Path(target).resolve()
    roots = (Path(home).resolve(), *allowed_dirs(), *(extra or []))
    return not any(real.is_relative_to(root) for root in roots)
