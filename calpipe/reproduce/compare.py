"""Array-by-array comparison of two products, and the science summary of a reprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from calpipe.core.models.dqflags import DQ, NAMES

ARRAYS = (("SCI", "data"), ("ERR", "err"), ("DQ", "dq"))


@dataclass(frozen=True)
class ArrayDiff:
    name: str
    identical: bool
    differing: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0


def compare_arrays(old: Any, new: Any) -> list[ArrayDiff]:
    """Bit-level comparison of SCI, ERR and DQ (NaN equals NaN only if the bits agree)."""
    diffs = []
    for label, attr in ARRAYS:
        a, b = getattr(old, attr, None), getattr(new, attr, None)
        if a is None and b is None:
            continue
        if a is None or b is None or a.shape != b.shape or a.dtype.str[1:] != b.dtype.str[1:]:
            diffs.append(ArrayDiff(label, False, -1, float("inf"), float("inf")))
            continue
        a, b = np.asarray(a), np.asarray(b).astype(a.dtype)  # same type: only the byte order may differ
        if a.tobytes() == b.tobytes():
            diffs.append(ArrayDiff(label, True))
            continue
        fa, fb = a.astype(np.float64), b.astype(np.float64)
        both_nan = np.isnan(fa) & np.isnan(fb)
        differ = (fa != fb) & ~both_nan
        delta = np.abs(fa - fb)[differ]
        scale = np.maximum(np.abs(fa), np.abs(fb))[differ]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(scale > 0, delta / scale, 0.0)
        diffs.append(ArrayDiff(label, False, int(differ.sum()),
                               float(np.nanmax(delta)) if delta.size else 0.0,
                               float(np.nanmax(rel)) if rel.size else 0.0))
    tables = getattr(old, "sources", None), getattr(new, "sources", None)
    if any(t is not None for t in tables):
        diffs.append(_compare_tables(*tables))
    return diffs


def _compare_tables(a: Any, b: Any) -> ArrayDiff:
    """A source list, bit for bit, column by column (values: FITS keeps some columns scaled on disk)."""
    if a is None or b is None or a.dtype.names != b.dtype.names or len(a) != len(b):
        return ArrayDiff("SOURCES", False, -1, float("inf"), float("inf"))
    differ = np.zeros(len(a), bool)
    for name in a.dtype.names:
        x, y = (np.ascontiguousarray(np.asarray(t[name]), dtype=np.asarray(a[name]).dtype.newbyteorder("<"))
                for t in (a, b))
        differ |= np.any(x.view(np.uint8).reshape(len(x), -1) != y.view(np.uint8).reshape(len(y), -1), axis=1)
    return ArrayDiff("SOURCES", not differ.any(), int(differ.sum()))


def format_diffs(diffs: list[ArrayDiff]) -> str:
    if not diffs:
        return "nothing to compare (no SCI, ERR, DQ array or source list)"
    if all(d.identical for d in diffs):
        return "IDENTICAL (" + ", ".join(d.name for d in diffs) + " bit for bit)"
    lines = [f"{'array':<6} {'differing':>10} {'max |diff|':>14} {'max rel':>12}"]
    for d in diffs:
        if d.identical:
            lines.append(f"{d.name:<6} {'identical':>10}")
        elif d.differing < 0:
            lines.append(f"{d.name:<6} {'shape or presence differs':>38}")
        else:
            lines.append(f"{d.name:<6} {d.differing:>10} {d.max_abs:>14.6g} {d.max_rel:>12.3g}")
    return "\n".join(lines)


def science_summary(old: Any, new: Any) -> list[str]:
    """Median ratio on pixels usable in both, NaN fractions and DQ flag counts, old vs new."""
    usable = ((old.dq & DQ.DO_NOT_USE) == 0) & ((new.dq & DQ.DO_NOT_USE) == 0)
    usable &= np.isfinite(old.data) & np.isfinite(new.data) & (old.data != 0)
    ratio = float(np.median(new.data[usable] / old.data[usable])) if usable.any() else float("nan")
    lines = [f"median ratio new/old {ratio:.6f} over {int(usable.sum())} pixels usable in both",
             f"NaN fraction {np.isnan(old.data).mean():.4%} -> {np.isnan(new.data).mean():.4%}"]
    for name, bit in NAMES.items():
        a, b = int(((old.dq & bit) != 0).sum()), int(((new.dq & bit) != 0).sum())
        if a or b:
            lines.append(f"DQ {name:<16} {a:>9} -> {b:<9}{'' if a == b else '  changed'}")
    return lines
