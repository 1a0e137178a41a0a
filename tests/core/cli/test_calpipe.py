"""calpipe list/show/schema/provenance, and listing stays free of numerical imports."""

from __future__ import annotations

import json
import subprocess
import sys

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun


def test_list_shows_pipelines_and_steps_with_versions(capsys):
    assert calpipe(["list"]) == 0
    out = capsys.readouterr().out
    assert "generic_image2" in out, "pipeline name listed"
    assert "1.0.0" in out, "pipeline version listed"
    assert "dq_init" in out, "dq_init step listed"
    assert "flat_field" in out, "flat_field step listed"


def test_show_names_the_source_of_each_value(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("steps:\n  flat_field:\n    min_flat: 0.3\n")
    assert calpipe(["show", "generic_image2", "--config", str(config), "--set",
                    "dq_init.flag_nonfinite=false", "--skip", "flat_field"]) == 0
    out = capsys.readouterr().out
    assert "min_flat = 0.3" in out, "min_flat from the config file"
    assert f"[config {config}:3]" in out, "config file and line named"
    assert "flag_nonfinite = False" in out, "flag_nonfinite from the command line"
    assert "[command line]" in out, "command line named as the source"
    assert "flat_field: flat_field 1.0.0  SKIPPED" in out


def test_schema_is_json(capsys):
    assert calpipe(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "PipelineSpec", "schema title"
    assert "steps" in schema["properties"], "schema has steps"


def test_provenance_text_and_prov_json(demo_session, ref_args, tmp_path, capsys):
    assert strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(tmp_path), "-q"]) == 0
    capsys.readouterr()
    product = tmp_path / "demo_image_cal.fits"
    assert calpipe(["provenance", str(product)]) == 0
    text = capsys.readouterr().out
    assert "pipeline generic_image2 1.0.0" in text, "provenance names the pipeline"
    assert "ref flat: demo_flat_0001.fits" in text, "provenance names the flat"
    assert calpipe(["provenance", "--prov-json", str(product)]) == 0
    assert "activity" in json.loads(capsys.readouterr().out)


def test_provenance_of_a_non_calpipe_file_is_exit_3(demo_session, capsys):
    assert calpipe(["provenance", str(demo_session.image)]) == 3
    assert "no calpipe provenance" in capsys.readouterr().err


LAZY = """
import sys
from calpipe.core.cli.{module} import main
main({argv!r})
heavy = [m for m in ("numpy", "stdatamodels", "astropy", "asdf", "calpipe.steps.flat_field.algorithm")
         if m in sys.modules]
print("HEAVY", heavy, file=sys.stderr)
"""


def _heavy_imports(module: str, argv: list[str]) -> str:
    result = subprocess.run([sys.executable, "-c", LAZY.format(module=module, argv=argv)],
                            capture_output=True, text=True, check=True)
    return result.stderr.strip().splitlines()[-1]


def test_listing_and_help_do_not_import_numerical_code():
    assert _heavy_imports("calpipe", ["list"]) == "HEAVY []"
    assert _heavy_imports("strun", ["generic_image2", "--help"]) == "HEAVY []"
    assert _heavy_imports("strun", ["--help"]) == "HEAVY []"
