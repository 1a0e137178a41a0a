"""Parse each ASDF schema once per process instead of on every validation.

asdf's ``$ref`` resolver is built with ``cache_remote=False`` and its loader
runs ``yaml.load`` on the schema text each time a reference is followed: every
read, write and validation of a product re-parses the same dozen schemas
(14 % of an IRAC frame's wall time). Here the loader asdf's resolver uses is
wrapped in a cache keyed by the schema's URI. The cache belongs to one
resource manager: when asdf's installed resources change (a plugin added, or
``load_only_calpipe_plugins`` replacing the mappings) asdf makes a new manager
and the cache starts empty, so a schema is never served from other resources.

Cached schemas are shared, not copied: asdf's validators only read them, and
``asdf.schema.load_schema`` (the public call) still deep-copies what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_installed = False


def _cached_loader(make_loader: Callable[[], Callable[[str], tuple[Any, str]]]):
    import asdf

    cache: dict[str, tuple[Any, str]] = {}
    owner: list[object] = [None]

    def make() -> Callable[[str], tuple[Any, str]]:
        load = make_loader()

        def load_cached(url: str) -> tuple[Any, str]:
            manager = asdf.get_config().resource_manager
            if owner[0] is not manager:
                cache.clear()
                owner[0] = manager
            hit = cache.get(url)
            if hit is None:
                hit = cache[url] = load(url)
            return hit

        return load_cached

    return make


def install() -> None:
    """Make asdf's schema loader cache parsed schemas (idempotent; same results, parsed once)."""
    global _installed
    if _installed:
        return
    from asdf import schema

    # asdf (3 to 6) builds a loader per validator from this private factory and offers no hook.
    schema._make_schema_loader = _cached_loader(schema._make_schema_loader)
    _installed = True
