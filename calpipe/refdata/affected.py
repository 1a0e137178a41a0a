"""Which observations would get a different reference file under context B than under A.

Only (instrument, reftype) pairs that changed between the contexts are
examined, and only for observations whose pipeline uses that reftype. The
header match is computed once per distinct set of selection values; each
observation then costs a dictionary lookup and a binary search on its date.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from calpipe.core.errors import UsageError
from calpipe.core.limits import require_regular

from .context import Context, diff
from .rules import Rule, header_candidates, parse_time, pick


@dataclass(frozen=True)
class Affected:
    dataset: str
    reftype: str
    old: str | None
    new: str | None


def read_catalog(path: Path) -> list[dict[str, str]]:
    """A CSV with a header row: dataset, pipeline, INSTRUME, DATE-OBS and selection keywords."""
    try:
        require_regular(path, UsageError)
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = {"dataset", "INSTRUME", "DATE-OBS"} - set(columns)
            if missing:
                raise UsageError(f"{path}: not a catalog CSV: its header row lacks column(s) "
                                 f"{', '.join(sorted(missing))} "
                                 f"(first row: {', '.join(columns)[:80] or 'none'})")
            rows = list(reader)
    except FileNotFoundError:
        raise UsageError(f"{path}: catalog not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: not a catalog CSV ({type(exc).__name__}: {exc})") from None
    return rows


class _Candidates:
    """Header matches per distinct selection values, with their use-after times."""

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self._cache: dict[tuple, tuple[list[Rule], list[datetime]]] = {}

    def pick(self, key: tuple, values: dict[str, str], when: datetime) -> Rule | None:
        found = self._cache.get(key)
        if found is None:
            candidates = header_candidates(self.rules, values)
            found = self._cache[key] = (candidates, [r.when for r in candidates])
        return pick(found[0], when, found[1])


def affected(a: Context, b: Context, rows: Iterable[dict[str, str]],
             reftypes_of: Callable[[str], tuple[str, ...]]) -> list[Affected]:
    """Observations whose selected file differs between ``a`` and ``b``, per reftype."""
    changed = {(c.instrument, c.reftype) for c in diff(a, b)}
    if not changed:
        return []
    pickers: dict[tuple[str, str], tuple[tuple[str, ...], _Candidates, _Candidates]] = {}
    for key in changed:
        ta, tb = a.types.get(key), b.types.get(key)
        selectors = tuple(dict.fromkeys((*(ta.selectors if ta else ()), *(tb.selectors if tb else ()))))
        pickers[key] = (selectors, _Candidates(ta.rules if ta else []), _Candidates(tb.rules if tb else []))
    out = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            instrument = row["INSTRUME"].lower()
            when = None
            for reftype in reftypes_of(row.get("pipeline", "")):
                entry = pickers.get((instrument, reftype))
                if entry is None:
                    continue
                selectors, in_a, in_b = entry
                absent = [k for k in selectors if k not in row]
                if absent:
                    raise UsageError(f"the catalog has no column {', '.join(absent)}: {instrument}/{reftype} "
                                     f"files are selected by it, so no observation can be judged (add "
                                     f"the column, '*' where any value matches nothing)")
                when = when or parse_time(row["DATE-OBS"])
                key = tuple(row.get(k) for k in selectors)
                old, new = in_a.pick(key, row, when), in_b.pick(key, row, when)
                if old != new:
                    out.append(Affected(row["dataset"], reftype, old.name if old else None,
                                        new.name if new else None))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"catalog line {line}: {exc} (every row needs dataset, INSTRUME and an ISO "
                             "DATE-OBS)") from None
    return out
