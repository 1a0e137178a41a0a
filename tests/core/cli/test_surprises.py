"""Commands behave as a new user expects (issue 14, item 7): strun: each case was a surprise once."""

from __future__ import annotations

import textwrap

import pytest

from calpipe.core.cli.strun import main as strun


def test_dry_run_names_the_files_it_would_write(demo_session, ref_args, tmp_path, capsys):
    out = tmp_path / "out"
    assert strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(out), "--dry-run",
                  "--save-intermediates"]) == 0
    text = capsys.readouterr().out
    assert f"would write: {out / 'demo_image_cal.fits'}, {out / 'demo_image_dq_init.fits'}" in text
    assert not out.exists()


def test_save_intermediates_writes_each_step_once_and_no_copy_of_the_product(demo_session, ref_args, tmp_path):
    assert strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(tmp_path), "-q",
                  "--save-intermediates"]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.fits"))
    assert written == ["demo_image_cal.fits", "demo_image_dq_init.fits"]


@pytest.mark.parametrize("floor", [0.05, 0.2])
def test_pipeline_parameters_appear_in_the_pipeline_help(tmp_path, capsys, floor):
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: mine
        version: 1.0.0
        input: 2
        output: 2
        imports:
          - pipeline: generic_image2
        parameters:
          floor: {floor}
        steps:
          - id: flat_field
            params: {{min_flat: "${{floor}}"}}
        """))
    assert strun([str(path), "--help"]) == 0
    out = capsys.readouterr().out
    assert f"  floor={floor!r}  [{path}:8]" in out
    assert strun([str(path), "--help", "--set", "floor=0.3"]) == 0
    assert "  floor=0.3  [command line]" in capsys.readouterr().out
