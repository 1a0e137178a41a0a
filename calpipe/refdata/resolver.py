"""The runner's view of the reference data: one context, plus --ref overrides."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.keywords import keyword_values
from calpipe.core.refs import RefFile

from .context import Context
from .rules import Choice, NoMatch, select
from .store import Store

log = logging.getLogger("calpipe")


class ContextResolver:
    """Selects files from one context; the context is loaded on the first non-overridden request."""

    def __init__(self, store: Store, number: int | None, overrides: dict[str, Path], registry: Any):
        self.store = store
        self._number = number
        self.overrides = {k: Path(v) for k, v in overrides.items()}
        self.registry = registry
        self._loaded = False
        self._taken = False

    @functools.cached_property
    def loaded(self) -> Context:
        from .builtin import ensure_initialised

        ensure_initialised(self.store, self.registry, self._number)
        number = self._number if self._number is not None else self.store.context_numbers()[-1]
        self._loaded = True
        return self.store.load(number)

    def pin(self) -> int:
        """Settle (and install if built-in) the context now, e.g. once before starting workers."""
        return self.loaded.number

    @property
    def context(self) -> str | None:
        """The context number, once a file was taken from it (None if all were overridden)."""
        return self.loaded.name if self._loaded else None

    def choose(self, reftype: str, product: Any) -> tuple[Choice, dict[str, Any], str]:
        """The rule for one reftype, the header values it was chosen on, and DATE-OBS."""
        ctx = self.loaded
        instrument = product.meta.instrument.name
        if not instrument:
            raise InputDataError(f"{product.meta.filename}: no INSTRUME keyword, needed to select "
                                 "reference files")
        rules = ctx.rules_for(instrument, reftype)
        if rules is None and self.grow_latest():
            return self.choose(reftype, product)
        if rules is None:
            have = sorted(t for i, t in ctx.types if i == instrument.lower())
            raise RefDataError(f"context {ctx.name} has no '{reftype}' files for {instrument} "
                               f"(it has: {', '.join(have) or 'nothing'}); pass --ref {reftype}=PATH "
                               "or publish a context that has them")
        values = keyword_values(product, (*rules.selectors, "DATE-OBS"))
        date = values["DATE-OBS"]
        if not date:
            raise InputDataError(f"{product.meta.filename}: no DATE-OBS keyword, needed to select "
                                 "reference files by date")
        try:
            what = f"{instrument.lower()}/{reftype} in context {ctx.name}"
            choice = select(rules.rules, values, date, what)
        except NoMatch as exc:
            raise RefDataError(str(exc)) from None
        except ValueError as exc:
            raise InputDataError(f"{product.meta.filename}: DATE-OBS {exc}") from None
        return choice, values, date

    def grow_latest(self) -> bool:
        """For "the latest" context, install the built-in contexts not built yet; is there a newer one?

        Built-in sets are built when first needed (an instrument's first run), so a latest context
        can lack an instrument only because its built-in set was never built: build it (which
        rebases the local history on it) rather than fail. Never once a file was taken.
        """
        from .builtin import init, missing

        if self._number is not None or self._taken or not missing(self.store, self.registry):
            return False
        before = self.loaded.number
        init(self.store, self.registry)
        del self.loaded
        return self.loaded.number != before

    def resolve(self, reftype: str, product: Any) -> RefFile:
        if reftype in self.overrides:
            return RefFile(reftype, self.overrides[reftype], overridden=True)
        choice, _, _ = self.choose(reftype, product)
        self._taken = True
        rule = choice.rule
        path = self.store.file_path(rule.sha256)
        if not path.is_file():  # deleted: a built-in file is rebuilt, byte for byte
            from .builtin import repair

            restored = repair(self.store, self.registry)
            if restored:
                log.warning("reference store %s: rebuilt missing built-in file(s) %s", self.store.root,
                            ", ".join(restored))
        return RefFile(reftype, path, overridden=False, sha256=rule.sha256, name=rule.name)
