"""What a run asks of the reference data: a resolver that answers with files.

Kept apart from the runner so that the reference-data system, `calpipe.reproduce`
and the archive can implement or use resolvers without importing the step loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .errors import RefDataError


@dataclass(frozen=True)
class RefFile:
    """A resolver's answer; ``sha256`` (if known) is checked against the file's bytes."""

    reftype: str
    path: Path
    overridden: bool
    sha256: str | None = None
    name: str | None = None  # the file's own name, when the path is a content address


class RefResolver(Protocol):
    """Chooses reference files for a product; the reference-data system implements it."""

    context: str | None

    def resolve(self, reftype: str, product: Any) -> RefFile: ...


class OverrideResolver:
    """Only what the user named with --ref TYPE=PATH; used until a context is configured."""

    context = None

    def __init__(self, overrides: dict[str, Path] | None = None):
        self.overrides = {k: Path(v) for k, v in (overrides or {}).items()}

    def resolve(self, reftype: str, product: Any) -> RefFile:
        if reftype not in self.overrides:
            raise RefDataError(
                f"no reference file for type '{reftype}' and no reference context configured; "
                f"pass --ref {reftype}=PATH"
            )
        return RefFile(reftype, self.overrides[reftype], overridden=True)
