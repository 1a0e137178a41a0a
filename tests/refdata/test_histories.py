"""Built-in and local context histories combine: the latest context never loses an instrument."""

from __future__ import annotations

import numpy as np
import pytest

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun
from calpipe.core.hookspecs import RefSet, RefType, hookimpl
from calpipe.core.io import open_product
from calpipe.core.models.products import ReferenceFileModel
from calpipe.core.registry import Registry, get_registry
from calpipe.instruments.demo import plugin as demo_plugin
from calpipe.refdata.builtin import init
from calpipe.refdata.resolver import ContextResolver
from calpipe.refdata.store import Store


def _ref(reftype: str, value: float, useafter: str = "2000-01-01T00:00:00") -> ReferenceFileModel:
    ref = ReferenceFileModel(data=np.full((128, 128), value, np.float32)) if reftype != "mask" else \
        ReferenceFileModel(dq=np.zeros((128, 128), np.uint32))
    ref.meta.date = useafter
    ref.meta.reftype, ref.meta.useafter = reftype, useafter
    ref.meta.instrument.name, ref.meta.instrument.detector = "DEMO", "DEMO1"
    ref.meta.description = f"late {reftype}"
    return ref


class LatePlugin:
    """A plugin installed after local publishes: built-in context 5 with a new type and a new mask."""

    @hookimpl
    def calpipe_reftypes(self):
        return [RefType("demo", "dark", ("DETECTOR",), "dark current")]

    @hookimpl
    def calpipe_refsets(self):
        return [RefSet("late", 5, lambda: [("demo_dark_0005.fits", _ref("dark", 0.1)),
                                           ("demo_mask_0005.fits", _ref("mask", 0, "2001-01-01T00:00:00"))])]


def _publish_flat(store, registry, tmp_path, value: float):
    from calpipe.core.io import write_atomic

    path = write_atomic(_ref("flat", value, "2010-01-01T00:00:00"), tmp_path / f"demo_flat_{value}.fits")
    store.add(path, registry.reftypes)
    return store.publish("user flat", "tester", registry.reftypes)


def test_local_publish_then_a_new_instrument_then_reprocess_latest(tmp_path, capsys):
    """The issue's sequence: local 1000 on built-ins 1-2, IRAC's first run builds 3, --latest works."""
    from calpipe.instruments.irac.simulate import simulate

    root = tmp_path / "store"
    store = Store(root)
    init(store, get_registry(), upto=2)
    local = _publish_flat(store, get_registry(), tmp_path, 1.5)
    assert local.number == 1000
    raw = simulate(tmp_path / "raw", channel=1, naor_frames=1, seed=3)[0].raw
    assert strun(["irac_bcd", str(raw), "--refdata", str(root), "-o", str(tmp_path / "bcd"), "-q"]) == 0
    latest = store.load(store.context_numbers()[-1])
    assert latest.number == 1001 and latest.parent == 1000
    assert {t for i, t in latest.types if i == "irac"} == {t for i, t in store.load(3).types if i == "irac"}
    assert latest.types[("demo", "flat")].rules == local.types[("demo", "flat")].rules  # the user's flat stays
    bcd = next((tmp_path / "bcd").glob("*_bcd.fits"))
    code = calpipe(["reprocess", str(bcd), "--latest", "--refdata", str(root), "--search", str(raw.parent),
                    "-o", str(tmp_path / "new")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "reference context 0003 -> 1001" in out
    # the same references, so the same science
    assert open_product(next((tmp_path / "new").glob("*_bcd.fits"))).data.tobytes() == \
        open_product(bcd).data.tobytes()


@pytest.fixture
def registries():
    before = Registry.load(extra_plugins=(demo_plugin,), entry_points=False)
    after = Registry.load(extra_plugins=(demo_plugin, LatePlugin()), entry_points=False)
    return before, after


@pytest.mark.parametrize("value", [0.5, 2.0])
def test_a_builtin_context_from_a_plugin_installed_after_local_publishes(registries, tmp_path, value):
    before, after = registries
    store = Store(tmp_path / "store")
    init(store, before)
    first = _publish_flat(store, before, tmp_path, value)
    second = _publish_flat(store, before, tmp_path, value * 2)
    assert (first.number, second.number) == (1000, 1001)
    product = open_product(_image(tmp_path))
    dark = ContextResolver(store, None, {}, after).resolve("dark", product)  # the new type, latest context
    assert dark.name == "demo_dark_0005.fits"
    latest = store.load(store.context_numbers()[-1])
    assert (latest.number, latest.parent) == (1002, 1001)
    names = {k: sorted(r.name for r in t.rules) for k, t in latest.types.items()}
    assert names[("demo", "mask")] == ["demo_mask_0001.fits", "demo_mask_0005.fits"]  # untouched: built-in's
    assert names[("demo", "flat")] == sorted(r.name for r in second.types[("demo", "flat")].rules)  # user's
    # every (instrument, reftype) any earlier context had is in the newest one
    for n in store.context_numbers():
        assert set(store.load(n).types) <= set(latest.types)
    # a further local publish starts from the rebased context
    assert set(_publish_flat(store, after, tmp_path, value * 3).types) == set(latest.types)


def test_no_rebase_without_local_contexts(registries, tmp_path):
    before, after = registries
    store = Store(tmp_path / "store")
    init(store, before)
    assert [c.number for c in init(store, after)] == [5]
    assert store.context_numbers() == [1, 5]


def _image(tmp_path):
    from calpipe.instruments.demo.simulate import make_demo_data

    return make_demo_data(tmp_path / "demo").image
