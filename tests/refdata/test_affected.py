"""affected: exactly the observations whose selected file changes, for reftypes their pipeline uses."""

from __future__ import annotations

from calpipe.refdata.affected import affected
from calpipe.refdata.context import Context, RefTypeRules
from calpipe.refdata.rules import Rule


def ctx(number, flats, masks):
    def rules(files):
        return RefTypeRules(("DETECTOR",), [Rule(f"sha-{n}", n, u, (("DETECTOR", d),)) for n, d, u in files])
    return Context(number, None, None, "2026-01-01", "t", "t", False,
                   {("demo", "flat"): rules(flats), ("demo", "mask"): rules(masks)})


FLATS_A = [("flat_any", "*", "2020-01-01T00:00:00"), ("flat_d1", "DEMO1", "2022-01-01T00:00:00")]
MASKS = [("mask_any", "*", "2020-01-01T00:00:00")]
A = ctx(1, FLATS_A, MASKS)
# B adds a DEMO2 flat valid from mid-2023 and supersedes nothing else
B = ctx(2, [*FLATS_A, ("flat_d2", "DEMO2", "2023-07-01T00:00:00")], MASKS)

CATALOG = [
    {"dataset": "o1", "pipeline": "p_flat", "INSTRUME": "DEMO", "DETECTOR": "DEMO2", "DATE-OBS": "2023-07-01T00:00:00"},
    {"dataset": "o2", "pipeline": "p_flat", "INSTRUME": "DEMO", "DETECTOR": "DEMO2", "DATE-OBS": "2023-06-30T23:59:59"},
    {"dataset": "o3", "pipeline": "p_flat", "INSTRUME": "DEMO", "DETECTOR": "DEMO1", "DATE-OBS": "2024-01-01T00:00:00"},
    {"dataset": "o4", "pipeline": "p_mask", "INSTRUME": "DEMO", "DETECTOR": "DEMO2", "DATE-OBS": "2024-01-01T00:00:00"},
    {"dataset": "o5", "pipeline": "p_flat", "INSTRUME": "OTHER", "DETECTOR": "DEMO2", "DATE-OBS": "2024-01-01T00:00:00"},
    {"dataset": "o6", "pipeline": "p_both", "INSTRUME": "demo", "DETECTOR": "demo2", "DATE-OBS": "2025-01-01"},
]
USES = {"p_flat": ("flat",), "p_mask": ("mask",), "p_both": ("mask", "flat")}


def test_only_changed_selections_are_reported():
    found = affected(A, B, CATALOG, USES.__getitem__)
    assert [(f.dataset, f.reftype, f.old, f.new) for f in found] == [
        ("o1", "flat", "flat_any", "flat_d2"),  # exactly at the new use-after date
        ("o6", "flat", "flat_any", "flat_d2"),  # case-insensitive match
    ]
    # o2 is a second too early, o3 is another detector, o4's pipeline uses no flat, o5 another instrument


def test_identical_contexts_affect_nothing_and_direction_matters():
    assert affected(A, A, CATALOG, USES.__getitem__) == []
    back = affected(B, A, CATALOG, USES.__getitem__)
    assert [(f.dataset, f.old, f.new) for f in back] == [("o1", "flat_d2", "flat_any"), ("o6", "flat_d2", "flat_any")]


def test_a_type_that_appears_counts_from_none():
    c = ctx(3, FLATS_A, [])
    c.types.pop(("demo", "mask"))
    found = affected(c, A, CATALOG, USES.__getitem__)
    assert [(f.dataset, f.reftype, f.old, f.new) for f in found] == [("o4", "mask", None, "mask_any"),
                                                                   ("o6", "mask", None, "mask_any")]


def test_a_bad_catalog_row_names_its_line():
    import pytest

    from calpipe.core.errors import UsageError

    rows = [*CATALOG[:2], {**CATALOG[0], "DATE-OBS": "soon"}]
    with pytest.raises(UsageError, match="catalog line 4: 'soon' is not an ISO 8601 date"):
        affected(A, B, rows, USES.__getitem__)
