"""The step contract.

A step is a thin class: metadata, a typed ``Params`` model and ``process()``.
The algorithm lives in plain numpy functions beside it (as stcal does for jwst)
and is imported inside ``process()``, so listing steps and printing help never
loads numerical code. A step never reads or writes files and never records its
own status or provenance: the runner does both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from .params import Params

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_version(text: str) -> tuple[int, int, int]:
    """'1.2.3' -> (1, 2, 3); anything else raises ValueError."""
    match = _SEMVER.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a MAJOR.MINOR.PATCH version")
    return tuple(int(g) for g in match.groups())  # type: ignore[return-value]


class Step:
    """Base class of every calibration step.

    Subclasses set ``name`` (registry name, snake_case), ``version`` (semver; bump
    it whenever the output can change and keep the old class registered),
    ``instruments`` (lower-case names, or None for any), ``reftypes`` and ``Params``.
    A step with ``combines = True`` receives every member of a multi-input run as
    a `ProductSet` and returns one product (or a set of them, e.g. one per band);
    any other step given a set is applied to each member in turn.
    A version with ``opt_in = True`` is used only where a pipeline pins it: released
    pipelines that name the step without a version keep resolving to the newest
    version that is not opt-in, so their output never changes (new releases pin).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    instruments: ClassVar[tuple[str, ...] | None] = None
    reftypes: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[Params]] = Params
    combines: ClassVar[bool] = False
    opt_in: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not _NAME.match(cls.name):
            raise TypeError(f"{cls.__qualname__}.name '{cls.name}' must be snake_case")
        if "version" in cls.__dict__:
            parse_version(cls.version)

    @classmethod
    def key(cls) -> str:
        return f"{cls.name}@{cls.version}"

    @classmethod
    def summary(cls) -> str:
        """First line of the docstring: what the step is for."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def applies_to(cls, instrument: str | None) -> bool:
        return cls.instruments is None or instrument is None or instrument.lower() in cls.instruments

    @classmethod
    def check_input(cls, product: Any) -> None:
        """Refuse a product this step cannot take, before any reference file is selected.

        The runner calls it for a pipeline's first step that runs, right after its
        own checks (level, instrument): raise InputDataError naming the keyword at
        fault (e.g. a 24 um frame given to a 70 um pipeline). Default: accept.
        """

    def process(self, product: Any, refs: Mapping[str, Any], params: Params) -> Any:
        """Return the calibrated product; ``refs`` maps reftype to an opened reference model."""
        raise NotImplementedError
