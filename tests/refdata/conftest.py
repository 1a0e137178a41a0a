"""Reference files of the demo instrument, made to order."""

from __future__ import annotations

import numpy as np
import pytest

from calpipe.core.io import write_atomic
from calpipe.core.models.products import ReferenceFileModel
from calpipe.core.registry import get_registry
from calpipe.refdata.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def reftypes():
    return get_registry().reftypes


@pytest.fixture
def make_ref(tmp_path):
    def make(name: str, reftype: str = "flat", detector: str = "DEMO1",
             useafter: str = "2020-01-01T00:00:00", value: float = 1.0):
        ref = ReferenceFileModel()
        if reftype == "flat":
            ref.data = np.full((128, 128), value, np.float32)
        else:
            ref.dq = np.zeros((128, 128), np.uint32)
        ref.meta.reftype = reftype
        ref.meta.instrument.name = "DEMO"
        ref.meta.instrument.detector = detector
        ref.meta.useafter = useafter
        ref.meta.description = f"test {reftype}"
        return write_atomic(ref, tmp_path / "incoming" / name)

    return make
