"""Rule kinds, validity boundaries, ambiguity and explanations, on hand-made rules."""

from __future__ import annotations

import pytest

from calpipe.refdata.rules import NoMatch, Rule, ambiguities, matches, overlaps, select


def rule(name, detector, useafter, readpatt="*"):
    return Rule(f"sha-{name}", name, useafter, (("DETECTOR", detector), ("READPATT", readpatt)))


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("NRCA1", "NRCA1", True), ("NRCA1", "nrca1", True), ("NRCA1", "NRCA2", False),
    ("*", "anything", True), ("*", None, True), ("NRCA1", None, False),
    ("NRCA*", "NRCA4", True), ("NRCA*", "NRCB1", False),
    ("NRCA1|NRCA2", "NRCA2", True), ("NRCA1|NRCA2", "NRCA3", False), ("NRCB*|NRCA1", "NRCB3", True),
])
def test_pattern_kinds(pattern, value, expected):
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(("p", "q", "expected"), [
    ("NRCA1", "NRCA1", True), ("NRCA1", "NRCA2", False), ("*", "NRCA2", True),
    ("NRCA1|NRCA2", "NRCA2|NRCA3", True), ("NRCA1|NRCA2", "NRCA3", False),
    ("NRCA*", "NRCA3", True), ("NRCA*", "NRCB3", False), ("NRCA*", "NRC*", True), ("NRCA*", "NRCB*", False),
])
def test_overlap(p, q, expected):
    assert overlaps(p, q) is expected, f"overlaps({p}, {q})"
    assert overlaps(q, p) is expected, f"overlaps({q}, {p})"


RULES = [
    rule("any_2020", "*", "2020-01-01T00:00:00"),
    rule("a1_2022", "NRCA1", "2022-06-01T00:00:00"),
    rule("a12_2024", "NRCA1|NRCA2", "2024-01-01T00:00:00", "RAPID"),
]


def test_latest_valid_use_after_wins():
    values = {"DETECTOR": "NRCA1", "READPATT": "RAPID"}
    assert select(RULES, values, "2023-01-01T00:00:00", "flat").rule.name == "a1_2022"
    assert select(RULES, values, "2025-01-01T00:00:00", "flat").rule.name == "a12_2024"
    other = {"DETECTOR": "NRCB1", "READPATT": "RAPID"}
    assert select(RULES, other, "2025-01-01T00:00:00", "flat").rule.name == "any_2020"


def test_use_after_boundary_is_inclusive():
    values = {"DETECTOR": "NRCA1", "READPATT": "BRIGHT1"}
    assert select(RULES, values, "2022-06-01T00:00:00", "flat").rule.name == "a1_2022"
    assert select(RULES, values, "2022-05-31T23:59:59.999", "flat").rule.name == "any_2020"
    assert select(RULES, values, "2022-06-01", "flat").rule.name == "a1_2022"  # a date alone is midnight


def test_no_match_explains_each_elimination():
    rules = [rule("a1", "NRCA1", "2020-01-01T00:00:00"), rule("a2", "NRCA2|NRCA3", "2020-01-01T00:00:00"),
             rule("b1_late", "NRCB1", "2030-01-01T00:00:00")]
    with pytest.raises(NoMatch) as err:
        select(rules, {"DETECTOR": "NRCB1", "READPATT": "RAPID"}, "2025-01-01T00:00:00", "nir/flat in context 0003")
    message = str(err.value)
    assert message.startswith("no nir/flat in context 0003 fits this product:")
    assert "DETECTOR=NRCB1 eliminated a1 (DETECTOR=NRCA1), a2 (DETECTOR=NRCA2|NRCA3)" in message
    assert "DATE-OBS=2025-01-01T00:00:00 is before the use-after date of every matching file; " \
           "the earliest is b1_late (use after 2030-01-01T00:00:00)" in message


def test_ambiguity_needs_same_date_and_overlap_on_every_key():
    same_day = "2020-01-01T00:00:00"
    assert ambiguities([rule("x", "NRCA1", same_day), rule("y", "NRCA2", same_day)]) == []
    assert ambiguities([rule("x", "*", same_day), rule("y", "NRCA2", "2021-01-01T00:00:00")]) == []
    assert ambiguities([rule("x", "NRCA1", same_day, "RAPID"), rule("y", "NRCA1", same_day, "DEEP8")]) == []
    clash = ambiguities([rule("x", "NRCA*", same_day), rule("y", "NRCA1|NRCB1", same_day)])
    assert [(a.name, b.name) for a, b in clash] == [("x", "y")]


def test_time_zones_are_converted_not_dropped():
    from calpipe.refdata.rules import parse_time

    assert parse_time("2022-06-01T02:00:00+02:00") == parse_time("2022-06-01T00:00:00")
    assert parse_time("2022-06-01T00:00:00Z") == parse_time("2022-06-01")
