"""The exposure tag (program, visit, exposure) that every science packet carries, and tag patterns.

A tag is what the ground system extracts an observation by: ``--tag
PROGRAM[:VISIT[:EXPOSURE]]`` selects every exposure whose leading parts match.
Parts are ASCII letters and digits; two all-digit parts match by value, so
``--tag 1:1`` finds program 00001, visit 001 (the simulator writes them
zero-padded, people type them without).
"""

from __future__ import annotations

from dataclasses import dataclass

from calpipe.core.errors import UsageError

PARTS = ("program", "visit", "exposure")


@dataclass(frozen=True, order=True)
class Tag:
    program: str
    visit: str
    exposure: str

    def __str__(self) -> str:
        return f"{self.program}:{self.visit}:{self.exposure}"

    def check(self, widths: tuple[int, int, int]) -> Tag:
        """Raise ValueError unless every part is 1..width ASCII letters or digits."""
        for part, value, width in zip(PARTS, (self.program, self.visit, self.exposure), widths, strict=True):
            if not (value.isascii() and value.isalnum() and len(value) <= width):
                raise ValueError(f"{part} '{value}' must be 1..{width} ASCII letters or digits")
        return self


def _same(a: str, b: str) -> bool:
    return a == b or (a.isdigit() and b.isdigit() and int(a) == int(b))


@dataclass(frozen=True)
class TagPattern:
    """PROGRAM[:VISIT[:EXPOSURE]]: the parts given must match, the others match anything."""

    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, widths: tuple[int, int, int]) -> TagPattern:
        parts = tuple(text.split(":"))
        if not 1 <= len(parts) <= 3:
            raise UsageError(f"--tag '{text}': expected PROGRAM[:VISIT[:EXPOSURE]] (e.g. 00001:001:00001)")
        for part, value, width in zip(PARTS, parts, widths, strict=False):
            if not (value.isascii() and value.isalnum() and len(value) <= width):
                raise UsageError(f"--tag '{text}': {part} '{value}' must be 1..{width} ASCII letters or "
                                 "digits (e.g. 00001:001:00001)")
        return cls(parts)

    def matches(self, tag: Tag) -> bool:
        return all(_same(p, v) for p, v in zip(self.parts, (tag.program, tag.visit, tag.exposure),
                                               strict=False))

    def __str__(self) -> str:
        return ":".join(self.parts)
