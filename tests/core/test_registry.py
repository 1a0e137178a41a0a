"""Several versions of a step coexist; conflicting registrations are named."""

from __future__ import annotations

import pytest

from calpipe.core.errors import RegistryError
from calpipe.core.hookspecs import hookimpl
from calpipe.core.registry import Registry
from calpipe.core.step import Step


class Old(Step):
    """Old behaviour."""

    name = "demo_step"
    version = "1.0.0"


class New(Step):
    """New behaviour."""

    name = "demo_step"
    version = "1.10.0"


class Middle(Step):
    name = "demo_step"
    version = "1.2.0"


class Impostor(Step):
    name = "demo_step"
    version = "1.0.0"


def _plugin(*classes, label: str):
    class Plugin:
        @hookimpl
        def calpipe_steps(self):
            return list(classes)

    Plugin.__name__ = label
    return Plugin()


def test_versions_coexist_and_newest_is_numeric_not_lexical():
    reg = Registry.load((_plugin(Old, New, Middle, label="a"),), entry_points=False)
    assert reg.step_versions("demo_step") == ["1.0.0", "1.2.0", "1.10.0"]
    assert reg.step("demo_step") is New
    assert reg.step("demo_step", "1.0.0") is Old


class OptIn(Step):
    """Better behaviour that changes released outputs."""

    name = "demo_step"
    version = "1.11.0"
    opt_in = True


def test_an_opt_in_version_is_used_only_where_pinned():
    reg = Registry.load((_plugin(Old, New, OptIn, label="a"),), entry_points=False)
    assert reg.step_versions("demo_step") == ["1.0.0", "1.10.0", "1.11.0"]
    assert reg.step("demo_step") is New  # unpinned: released pipelines keep their step
    assert reg.step("demo_step", "1.11.0") is OptIn
    only = Registry.load((_plugin(OptIn, label="b"),), entry_points=False)
    assert only.step("demo_step") is OptIn  # nothing else to fall back on


def test_released_nir_detector1_keeps_ramp_fit_1_0_0():
    from calpipe.core.pipeline import resolve
    from calpipe.core.registry import get_registry

    steps = {s.id: s.step.version for s in resolve("nir_detector1@1.0.0", get_registry()).steps}
    assert steps["ramp_fit"] == "1.0.0"
    steps = {s.id: s.step.version for s in resolve("nir_detector1@1.1.0", get_registry()).steps}
    assert steps["ramp_fit"] == "1.1.0"


def test_lookup_errors_suggest():
    reg = Registry.load((_plugin(Old, label="a"),), entry_points=False)
    with pytest.raises(LookupError, match="did you mean 'demo_step'"):
        reg.step("demo_stpe")
    with pytest.raises(LookupError, match=r"no version 2\.0\.0 \(registered: 1\.0\.0\)"):
        reg.step("demo_step", "2.0.0")


def test_same_name_and_version_from_two_plugins_names_both():
    reg = Registry.load((_plugin(Old, label="first"), _plugin(Impostor, label="second")), entry_points=False)
    with pytest.raises(RegistryError) as err:
        reg.step("demo_step")
    message = str(err.value)
    assert "step 'demo_step' version 1.0.0 is registered twice" in message
    assert "test_registry.Old" in message, "names the registered class"
    assert "test_registry.Impostor" in message, "names the impostor"
    assert message.count("plugin '") == 2


def test_registering_a_non_step_is_an_error():
    reg = Registry.load((_plugin(dict, label="bad"),), entry_points=False)
    with pytest.raises(RegistryError, match="which is not a Step"):
        reg.step_names()


def test_step_metadata_is_validated_at_class_creation():
    with pytest.raises(ValueError, match=r"not a MAJOR.MINOR.PATCH"):
        type("Bad", (Step,), {"name": "bad", "version": "1.0"})
    with pytest.raises(TypeError, match="must be snake_case"):
        type("Bad", (Step,), {"name": "Bad-Step", "version": "1.0.0"})


def test_builtins_arrive_through_entry_points():
    reg = Registry.load()
    assert {"dq_init", "flat_field"} <= set(reg.step_names())
    assert "generic_image2" in reg.pipeline_names()
    assert reg.plugin_versions()["calpipe"]


def test_every_shipped_release_file_is_named_name_dash_version():
    """One naming rule for released pipeline files: <name>-<version>.yaml, the name and version inside."""
    from pathlib import Path

    import calpipe
    from calpipe.core.registry import get_registry

    reg = get_registry()
    root = Path(calpipe.__file__).parent
    shipped = [reg.pipeline_file(n, v) for n in reg.pipeline_names() for v in reg.pipeline_versions(n)]
    ours = [f for f in shipped if f.path.resolve().is_relative_to(root)]
    assert len(ours) >= 11, "calpipe's own releases are registered"
    misnamed = [str(f.path) for f in ours if f.path.name != f"{f.name}-{f.version}.yaml"]
    assert misnamed == []
