"""Does a reference file hold what its type says? Shape, dtype, units and plausible values.

The REFTYPE keyword alone is one edit away from a flat used as a dark; each
reference type declares what its files hold (`RefContent`, through the
calpipe_reftypes hook), and a file is refused, naming it and what is wrong,
when it is added to a store, published, and opened for a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .hookspecs import Instrument, RefContent

_SAMPLE = 200_000  # values the median is taken of (a regular subsample): plausibility, not precision


def content_problems(path: Path, model: Any, content: RefContent, instrument: Instrument | None) -> list[str]:
    """Every way the file's content differs from ``content``; empty if it fits."""
    import numpy as np

    problems = []
    for name in content.absent:
        if model.hasattr(name) and getattr(model, name) is not None and getattr(model, name).size:
            problems.append(f"it has a {name.upper() if name != 'data' else 'SCI'} array, which this type "
                            "never has")
    values = getattr(model, content.array) if model.hasattr(content.array) else None
    hdu = "SCI" if content.array == "data" else content.array.upper()
    if values is None or not values.size:
        return [*problems, f"no {hdu} array"]
    header = _header(path, hdu)
    integers = content.array == "dq"
    stored = header.get("BITPIX") if header is not None else None  # the model casts to its schema's dtype
    wrong_storage = stored is not None and (stored > 0) != integers
    if values.dtype.kind not in ("ui" if integers else "f") or wrong_storage:
        what = f"BITPIX = {stored}" if stored is not None else str(values.dtype)
        problems.append(f"{hdu} is stored as {what}, not as {'integers' if integers else 'floats'}")
    frame = content.frame or (instrument.frame(model.meta.instrument.detector) if instrument else None)
    expected = (*content.planes, *(frame or (None, None)))
    if len(values.shape) != len(expected) or any(e is not None and e != n
                                                  for e, n in zip(expected, values.shape, strict=False)):
        shown = "x".join("N" if e is None else str(e) for e in expected)
        problems.append(f"{hdu} has shape {'x'.join(map(str, values.shape))}, not {shown}")
    unit = None if header is None or header.get("BUNIT") is None else str(header["BUNIT"]).strip()
    if unit is not None and content.units and unit not in content.units:
        problems.append(f"BUNIT = '{unit}', not {' or '.join(repr(u) for u in content.units)}")
    if content.median is None and content.bounds is None:
        return problems
    flat = values.ravel()
    sample = flat[:: max(1, flat.size // _SAMPLE)]
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    low, high = (float(np.nanmin(flat)), float(np.nanmax(flat))) if sample.size else (np.nan, np.nan)
    if np.isnan(low):  # NaN is "no value" (a bad pixel); +-inf is a value, and out of any bounds
        return [*problems, f"{hdu} has no finite value"]
    if content.bounds is not None:
        lo, hi = content.bounds
        if low < lo or high > hi:
            problems.append(f"{hdu} values span {low:.4g}..{high:.4g}, outside {lo:g}..{hi:g}")
    if content.median is not None:
        lo, hi = content.median
        median = float(np.median(sample)) if sample.size else np.nan
        if not lo <= median <= hi:
            problems.append(f"{hdu} median {median:.4g} is outside {lo:g}..{hi:g}")
    return problems


def check_reference(path: Path, model: Any, reftype: str, reftypes: dict, instruments: dict,
                    name: str | None = None, sha256: str | None = None) -> None:
    """Raise RefDataError if the file does not hold what a ``reftype`` of its instrument holds."""
    from .errors import RefDataError

    instrument = str(model.meta.instrument.name or "").lower()
    spec = reftypes.get((instrument, reftype))
    if spec is None or spec.content is None:
        return
    problems = content_problems(Path(path), model, spec.content, instruments.get(instrument))
    if problems:
        named = f"{name or Path(path).name}" + (f" (sha256 {sha256[:16]}…)" if sha256 else "")
        raise RefDataError(f"{path}: reference file {named} does not hold a {instrument} {reftype}: "
                           + "; ".join(problems) + " (a wrong or edited file: use the right one)")


def _header(path: Path, hdu: str) -> Any:
    """The header of the file's ``hdu``, or None if it has none (a model built in memory)."""
    from astropy.io import fits

    try:
        return fits.getheader(path, hdu)
    except (KeyError, OSError, IndexError):
        return None
