"""Selection rules: which reference file fits a product, and why (or why none does).

A rule gives, for each selection keyword, a pattern: an exact value
(``NRCA1``), a wildcard (``*`` or a glob such as ``NRCA*``) or alternatives
(``NRCA1|NRCA2``); plus a use-after date. A product selects, among the rules
whose patterns all match its header, the one with the latest use-after not
after its observation time. Rules that could both match one product with the
same use-after date are ambiguous; a context containing them is never published.
"""

from __future__ import annotations

import bisect
import fnmatch
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_GLOB = set("*?[")


def parse_time(text: Any) -> datetime:
    """ISO 8601 (date or date-time, optional Z) to a naive UTC datetime."""
    value = str(text).strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except ValueError as exc:
        raise ValueError(f"'{text}' is not an ISO 8601 date") from exc


def _norm(value: Any) -> str:
    return str(value).strip().upper()


def matches(pattern: str, value: Any) -> bool:
    """Does a header value satisfy a rule pattern? (case-insensitive)"""
    for alt in str(pattern).split("|"):
        alt = _norm(alt)
        if alt == "*":
            return True
        if value is not None and fnmatch.fnmatchcase(_norm(value), alt):
            return True
    return False


def overlaps(p: str, q: str) -> bool:
    """Could one value match both patterns? Globs are judged conservatively."""
    for a in (_norm(x) for x in str(p).split("|")):
        for b in (_norm(x) for x in str(q).split("|")):
            if "*" in (a, b) or a == b:
                return True
            a_glob, b_glob = bool(_GLOB & set(a)), bool(_GLOB & set(b))
            if (not a_glob and b_glob and fnmatch.fnmatchcase(a, b)) or (
                    a_glob and not b_glob and fnmatch.fnmatchcase(b, a)):
                return True
            if a_glob and b_glob:
                pa, pb = _literal_prefix(a), _literal_prefix(b)
                if pa.startswith(pb) or pb.startswith(pa):
                    return True
    return False


def _literal_prefix(glob: str) -> str:
    for i, ch in enumerate(glob):
        if ch in _GLOB:
            return glob[:i]
    return glob


@dataclass(frozen=True)
class Rule:
    """One reference file and the products it is for."""

    sha256: str
    name: str
    useafter: str
    select: tuple[tuple[str, str], ...]  # (keyword, pattern), in the reftype's selector order

    @property
    def when(self) -> datetime:
        return parse_time(self.useafter)

    def describe(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in self.select)
        return f"{self.name} ({keys}; use after {self.useafter})"


class NoMatch(LookupError):
    """No rule fits; the message says which keyword eliminated which files."""


@dataclass(frozen=True)
class Choice:
    rule: Rule
    candidates: int  # rules that matched the header and were valid at the time

    def why(self, values: dict[str, Any], date: str) -> str:
        keys = ", ".join(f"{k}={values.get(k)!s} matched '{p}'" for k, p in self.rule.select)
        return (f"{keys or 'no selectors'}; use-after {self.rule.useafter} <= DATE-OBS {date}; "
                f"latest of {self.candidates} valid candidate(s)")


def header_candidates(rules: list[Rule], values: dict[str, Any]) -> list[Rule]:
    """Rules whose patterns all match the header values, oldest use-after first."""
    found = [r for r in rules if all(matches(p, values.get(k)) for k, p in r.select)]
    return sorted(found, key=lambda r: r.when)


def pick(candidates: list[Rule], when: datetime, times: list[datetime] | None = None) -> Rule | None:
    """The latest use-after at or before ``when`` among header candidates (sorted by use-after).

    Pass ``times`` (the candidates' use-after datetimes) when picking many times from one list.
    """
    i = bisect.bisect_right(times if times is not None else [r.when for r in candidates], when)
    return candidates[i - 1] if i else None


def select(rules: list[Rule], values: dict[str, Any], date: str, what: str) -> Choice:
    """Choose the rule for one product, or raise NoMatch explaining every elimination."""
    when = parse_time(date)
    candidates = header_candidates(rules, values)
    chosen = pick(candidates, when)
    if chosen is not None:
        return Choice(chosen, sum(1 for r in candidates if r.when <= when))
    reasons = []
    by_key: dict[str, list[str]] = {}
    for r in rules:
        for key, pattern in r.select:
            if not matches(pattern, values.get(key)):
                by_key.setdefault(key, []).append(f"{r.name} ({key}={pattern})")
                break
    for key, names in by_key.items():
        reasons.append(f"{key}={values.get(key)} eliminated {', '.join(names)}")
    if candidates:
        soonest = candidates[0]
        reasons.append(f"DATE-OBS={date} is before the use-after date of every matching file; "
                       f"the earliest is {soonest.name} (use after {soonest.useafter})")
    if not rules:
        reasons.append("the context has no files of this type")
    raise NoMatch(f"no {what} fits this product: " + "; ".join(reasons))


def ambiguities(rules: list[Rule]) -> list[tuple[Rule, Rule]]:
    """Pairs of rules that some product could match equally (same use-after, overlapping patterns)."""
    clashes = []
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if a.when == b.when and all(overlaps(pa, pb) for (_, pa), (_, pb) in zip(a.select, b.select,
                                                                                   strict=True)):
                clashes.append((a, b))
    return clashes
