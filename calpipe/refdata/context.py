"""Contexts: numbered, immutable documents mapping (instrument, reftype) to rules.

A context is written once, as YAML, and never edited: every change to the
reference data is a new context whose ``parent`` is the previous one and whose
``rationale`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .rules import Rule


@dataclass
class RefTypeRules:
    selectors: tuple[str, ...]
    rules: list[Rule] = field(default_factory=list)


@dataclass
class Context:
    number: int
    parent: int | None
    parent_sha256: str | None
    created: str
    author: str
    rationale: str
    builtin: bool
    types: dict[tuple[str, str], RefTypeRules] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.number:04d}"

    def rules_for(self, instrument: str, reftype: str) -> RefTypeRules | None:
        return self.types.get((instrument.lower(), reftype))

    def files(self) -> dict[str, Rule]:
        return {r.sha256: r for t in self.types.values() for r in t.rules}

    def to_yaml(self) -> str:
        rules: dict[str, dict[str, Any]] = {}
        for (instrument, reftype), t in sorted(self.types.items()):
            rules.setdefault(instrument, {})[reftype] = {
                "selectors": list(t.selectors),
                "files": [{"name": r.name, "sha256": r.sha256, "useafter": r.useafter,
                           "select": dict(r.select)}
                          for r in sorted(t.rules, key=lambda r: (r.useafter, r.name))],
            }
        doc = {"context": self.number, "parent": self.parent, "parent_sha256": self.parent_sha256,
               "created": self.created, "author": self.author, "rationale": self.rationale,
               "builtin": self.builtin, "rules": rules}
        return yaml.safe_dump(doc, sort_keys=False, width=100)

    @classmethod
    def from_yaml(cls, doc: Any, where: str = "context") -> Context:
        """A context from its parsed YAML; RefDataError naming ``where`` if it is not one."""
        from calpipe.core.errors import RefDataError

        try:
            return cls._from_doc(yaml.safe_load(doc) if isinstance(doc, str) else doc)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RefDataError(f"{where}: corrupt reference context ({type(exc).__name__}: {exc}); restore "
                               "it from a backup, or remove it and run `calpipe refdata init`") from None

    @classmethod
    def _from_doc(cls, doc: Any) -> Context:
        types = {}
        for instrument, by_type in (doc.get("rules") or {}).items():
            for reftype, body in by_type.items():
                selectors = tuple(body["selectors"])
                rules = [Rule(f["sha256"], f["name"], str(f["useafter"]),
                              tuple((k, str(f["select"][k])) for k in selectors))
                         for f in body["files"]]
                types[(instrument, reftype)] = RefTypeRules(selectors, rules)
        return cls(doc["context"], doc.get("parent"), doc.get("parent_sha256"), str(doc["created"]),
                   doc.get("author", ""), doc.get("rationale", ""), bool(doc.get("builtin")), types)


@dataclass(frozen=True)
class TypeChange:
    instrument: str
    reftype: str
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]
    selectors_changed: bool


def diff(a: Context, b: Context) -> list[TypeChange]:
    """What differs between two contexts, per (instrument, reftype)."""
    changes = []
    for key in sorted(set(a.types) | set(b.types)):
        ta, tb = a.types.get(key), b.types.get(key)
        rules_a = set(ta.rules) if ta else set()
        rules_b = set(tb.rules) if tb else set()
        selectors_changed = bool(ta and tb and ta.selectors != tb.selectors)
        if rules_a != rules_b or selectors_changed:
            changes.append(TypeChange(key[0], key[1], tuple(sorted(rules_b - rules_a, key=_order)),
                                      tuple(sorted(rules_a - rules_b, key=_order)), selectors_changed))
    return changes


def _order(rule: Rule) -> tuple[str, str]:
    return (rule.useafter, rule.name)
