"""Pipeline YAML: every problem reported at once with file:line and a suggestion."""

from __future__ import annotations

import textwrap

import pytest

from calpipe.core.errors import ConfigProblems, UsageError
from calpipe.core.pipeline import Overrides, resolve
from calpipe.core.pipeline_file import json_schema
from calpipe.core.registry import get_registry


def _yaml(tmp_path, text: str, name: str = "p.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _problems(path, overrides=None) -> list[str]:
    with pytest.raises(ConfigProblems) as err:
        resolve(str(path), get_registry(), overrides)
    assert err.value.exit_code == 2
    return [str(p) for p in err.value.problems]


GOOD = """
    name: mine
    version: 1.2.0
    input: 2
    output: 2
    parameters:
      floor: 0.25
    steps:
      - id: dq_init
        step: dq_init
      - id: flat_field
        step: flat_field
        params:
          min_flat: ${floor}
"""


def test_registered_name_version_and_path_resolve_alike(tmp_path):
    reg = get_registry()
    by_name = resolve("generic_image2", reg)
    pinned = resolve("generic_image2@1.0.0", reg)
    by_path = resolve(str(reg.pipeline_file("generic_image2").path), reg)
    assert by_name.sha256() == pinned.sha256() == by_path.sha256()
    assert [s.id for s in by_name.steps] == ["dq_init", "flat_field"]
    assert by_name.reftypes() == ["mask", "flat"]


def test_unknown_release_lists_the_released_ones():
    with pytest.raises(UsageError, match=r"no release 9\.9\.9 \(released: 1\.0\.0\)"):
        resolve("generic_image2@9.9.9", get_registry())


def test_substitution_keeps_type_and_records_source(tmp_path):
    path = _yaml(tmp_path, GOOD)
    p = resolve(str(path), get_registry())
    flat = p.steps[1]
    assert flat.params.min_flat == 0.25, "min_flat value"
    assert isinstance(flat.params.min_flat, float), "min_flat is a float"
    assert flat.sources["min_flat"] == f"{path}:6 via ${{floor}}"
    assert p.steps[0].sources["flag_nonfinite"] == "default"


def test_precedence_default_yaml_config_command_line(tmp_path):
    path = _yaml(tmp_path, GOOD)
    config = _yaml(tmp_path, """
        steps:
          flat_field:
            min_flat: 0.5
          dq_init:
            flag_nonfinite: false
    """, "config.yaml")
    p = resolve(str(path), get_registry(), Overrides(config=config))
    assert p.steps[1].params.min_flat == 0.5
    assert p.steps[1].sources["min_flat"] == f"config {config}:3"
    assert p.steps[0].params.flag_nonfinite is False
    cli = Overrides(config=config, step_params={"flat_field": {"min_flat": 0.75}})
    p = resolve(str(path), get_registry(), cli)
    assert p.steps[1].params.min_flat == 0.75, "min_flat from the command line"
    assert p.steps[1].sources["min_flat"] == "command line", "source recorded as command line"
    # a pipeline parameter set on the command line flows through ${floor}
    p = resolve(str(path), get_registry(), Overrides(parameters={"floor": 0.125}))
    assert p.steps[1].params.min_flat == 0.125
    assert p.steps[1].sources["min_flat"] == "command line via ${floor}"


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    path = _yaml(tmp_path, """
        name: broken
        version: 1.0.0
        input: 2
        output: 2
        steps:
          - id: dq_init
            step: dq_inti
          - id: flat_field
            step: flat_field
            params:
              min_flta: 0.1
          - id: flat_again
            step: flat_field
            params:
              min_flat: 2.0
    """)
    problems = _problems(path)
    assert len(problems) == 3, problems
    assert f"{path}:7: step 'dq_init': unknown step 'dq_inti' (did you mean 'dq_init'?)" in problems
    assert f"{path}:11: step 'flat_field': unknown parameter 'min_flta' (did you mean 'min_flat'?)" in problems
    assert any(p.startswith(f"{path}:15: step 'flat_again': bad value 2.0 for 'min_flat'") for p in problems)


def test_unknown_and_missing_top_level_keys(tmp_path):
    path = _yaml(tmp_path, """
        name: broken
        version: 1.0
        input: 2
        stpes: []
    """)
    problems = _problems(path)
    assert f"{path}:4: unknown key 'stpes' (did you mean 'steps'?)" in problems
    assert any(p.startswith(f"{path}:2: 'version'") for p in problems)
    assert f"{path}:1: missing required key 'output'" in problems


def test_unknown_key_inside_a_step_is_suggested(tmp_path):
    path = _yaml(tmp_path, """
        name: broken
        version: 1.0.0
        input: 2
        output: 2
        steps:
          - id: flat_field
            step: flat_field
            parms: {min_flat: 0.1}
    """)
    assert _problems(path) == [f"{path}:8: unknown key 'steps[0].parms' (did you mean 'params'?)"]


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = _yaml(tmp_path, "name: x\nsteps:\n  - id: a\n   step: [unclosed\n")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:4: not valid YAML")


def test_python_paths_are_refused(tmp_path):
    path = _yaml(tmp_path, """
        name: sneaky
        version: 1.0.0
        input: 2
        output: 2
        steps:
          - id: evil
            step: os.system
    """)
    [problem] = _problems(path)
    assert "looks like a Python path; pipelines name registered steps only" in problem


def test_duplicate_keys_and_ids(tmp_path):
    path = _yaml(tmp_path, """
        name: dup
        version: 1.0.0
        version: 1.0.1
        input: 2
        output: 2
        steps:
          - id: flat_field
            step: flat_field
          - id: flat_field
            step: flat_field
    """)
    problems = _problems(path)
    assert f"{path}:3: duplicate key 'version' (YAML keeps only the last one; remove the other)" in problems
    assert f"{path}:9: duplicate step id 'flat_field'" in problems


def test_pinned_version_that_does_not_exist(tmp_path):
    path = _yaml(tmp_path, """
        name: pin
        version: 1.0.0
        input: 2
        output: 2
        steps:
          - {id: flat_field, step: flat_field, version: 0.9.0}
    """)
    [problem] = _problems(path)
    assert "step 'flat_field' has no version 0.9.0 (registered: 1.0.0)" in problem


def test_undefined_parameter_reference(tmp_path):
    path = _yaml(tmp_path, GOOD.replace("${floor}", "${flor}"))
    [problem] = _problems(path)
    assert "uses undefined ${flor}" in problem, "names the undefined variable"
    assert "did you mean 'floor'?" in problem, "suggests the near name"


def test_imports_with_include_exclude_and_override(tmp_path):
    _yaml(tmp_path, GOOD, "base.yaml")
    child = _yaml(tmp_path, """
        name: child
        version: 1.0.0
        input: 2
        output: 2
        imports:
          - pipeline: base.yaml
            exclude: [dq_init]
        steps:
          - id: flat_field
            params: {min_flat: 0.5}
          - id: mask_again
            step: dq_init
    """)
    p = resolve(str(child), get_registry())
    assert [(s.id, s.step.name) for s in p.steps] == [("flat_field", "flat_field"), ("mask_again", "dq_init")]
    assert p.steps[0].params.min_flat == 0.5
    assert p.steps[0].sources["min_flat"] == f"{child}:10"

    only = _yaml(tmp_path, """
        name: only
        version: 1.0.0
        input: 2
        output: 2
        imports:
          - pipeline: base.yaml
            include: [dq_init, flat_feld]
    """, "only.yaml")
    [problem] = _problems(only)
    assert problem == f"{only}:7: 'flat_feld' is not a step of base.yaml (did you mean 'flat_field'?)"


def test_import_cycle_is_reported(tmp_path):
    _yaml(tmp_path, "name: a\nversion: 1.0.0\ninput: 2\noutput: 2\nimports: [{pipeline: b.yaml}]\n", "a.yaml")
    _yaml(tmp_path, "name: b\nversion: 1.0.0\ninput: 2\noutput: 2\nimports: [{pipeline: a.yaml}]\n", "b.yaml")
    problems = _problems(tmp_path / "a.yaml")
    assert any("import cycle" in p for p in problems)


def test_override_of_unknown_step_id_is_suggested(tmp_path):
    path = _yaml(tmp_path, GOOD)
    problems = _problems(path, Overrides(step_params={"flat_feild": {"min_flat": 0.1}}, skip=["dq_int"]))
    assert "command line: no step with id 'flat_feild' in mine (did you mean 'flat_field'?)" in problems
    assert "command line: --skip: no step with id 'dq_int' (did you mean 'dq_init'?)" in problems


def test_bad_value_from_command_line(tmp_path):
    path = _yaml(tmp_path, GOOD)
    [problem] = _problems(path, Overrides(step_params={"flat_field": {"min_flat": "lots"}}))
    assert problem.startswith("command line: step 'flat_field': bad value 'lots' for 'min_flat'")


def test_json_schema_describes_the_format():
    schema = json_schema()
    assert set(schema["required"]) == {"name", "version", "input", "output"}
    assert schema["additionalProperties"] is False
    assert {"imports", "parameters", "steps", "refdata"} <= set(schema["properties"])
