"""Primary-header keyword values of a product, looked up through its schema.

Reference selection and archive catalogs speak in FITS keywords (DETECTOR,
READPATT, DATE-OBS); products store them at schema paths (meta.instrument.detector).
"""

from __future__ import annotations

import functools
from typing import Any


def _primary_keywords(schema: dict) -> dict[str, str]:
    found: dict[str, str] = {}

    def walk(node: dict, path: tuple[str, ...]) -> None:
        if "fits_keyword" in node and node.get("fits_hdu", "PRIMARY") == "PRIMARY":
            found.setdefault(node["fits_keyword"], ".".join(path))
        for name, sub in node.get("properties", {}).items():
            walk(sub, (*path, name))
        for sub in node.get("allOf", []):
            walk(sub, path)

    walk(schema, ())
    return found


@functools.cache
def keyword_paths(model_cls: type) -> dict[str, str]:
    """FITS keyword -> dotted schema path, for one model class."""
    return _primary_keywords(model_cls().schema)


def keyword_values(model: Any, keywords: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Values of the given primary-header keywords (None where absent)."""
    paths = keyword_paths(type(model))
    extra = {}
    extra_fits = getattr(model, "extra_fits", None)
    if extra_fits is not None:
        header = getattr(extra_fits, "instance", extra_fits).get("PRIMARY", {}).get("header", [])
        extra = {card[0]: card[1] for card in header}
    values = {}
    for key in keywords:
        path = paths.get(key)
        values[key] = model[path] if path and path in model else extra.get(key)
    return values
