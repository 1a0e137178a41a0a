"""strun: exit codes by error class, messages, parallel runs, dry runs, help."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from calpipe.core.cli.strun import main as strun
from calpipe.core.io import open_product


def test_help_without_pipeline(capsys):
    assert strun(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--steps.ID.PARAM" in out, "help shows --steps.ID.PARAM"
    assert "Exit codes" in out, "help shows exit codes"


def test_pipeline_help_lists_parameters_with_defaults(capsys):
    assert strun(["generic_image2", "--help", "--steps.flat_field.min_flat=0.2"]) == 0
    out = capsys.readouterr().out
    assert "--steps.flat_field.min_flat=0.2  (float [>=0.0 <1.0], default 0.0)" in out
    assert "--steps.dq_init.flag_nonfinite=True" in out
    assert "reference types: mask, flat" in out


def test_run_writes_product_and_accepts_both_param_forms(demo_session, ref_args, tmp_path, capsys):
    code = strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(tmp_path), "-q",
                  "--steps.flat_field.min_flat", "0.5", "--set", "dq_init.flag_nonfinite=false"])
    assert code == 0
    from calpipe.core import provenance

    steps = {s["id"]: s for s in provenance.read(tmp_path / "demo_image_cal.fits")["steps"]}
    assert steps["flat_field"]["params"] == {"min_flat": 0.5}
    assert steps["dq_init"]["params"] == {"flag_nonfinite": False}


@pytest.mark.parametrize(("args", "code", "message"), [
    (["no_such_pipe", "x.fits"], 2, "unknown pipeline 'no_such_pipe'"),
    (["generic_image2", "x.fits", "--frobnicate"], 2, "unknown option '--frobnicate'"),
    (["generic_image2", "x.fits", "--dry-rn"], 2, "did you mean '--dry-run'"),
    (["generic_image2", "x.fits", "--steps.flat_field.min_flta=1"], 2, "did you mean 'min_flat'"),
    (["generic_image2"], 2, "no input files given"),
    (["generic_image2", "missing.fits", "--ref", "mask=m.fits"], 4, "--ref mask=m.fits: file not found"),
])
def test_usage_errors(args, code, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert strun(args) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_and_corrupt_inputs_are_exit_3(demo_session, ref_args, tmp_path, capsys):
    assert strun(["generic_image2", str(tmp_path / "gone.fits"), *ref_args, "-o", str(tmp_path)]) == 3
    assert "gone.fits: file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.fits"
    bad.write_bytes(demo_session.image.read_bytes()[:4000])
    assert strun(["generic_image2", str(bad), *ref_args, "-o", str(tmp_path)]) == 3
    assert "bad.fits: not a readable FITS product" in capsys.readouterr().err


def test_unknown_context_is_exit_4(demo_session, tmp_path, capsys):
    args = ["generic_image2", str(demo_session.image), "--context", "7", "-o", str(tmp_path)]
    assert strun(args) == 4
    assert "no reference context 7 (published: " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_pipeline_file_is_exit_2_with_file_and_line(tmp_path, capsys):
    pipe = tmp_path / "bad.yaml"
    pipe.write_text("name: x\nversion: 1.0.0\ninput: 2\noutput: 2\nsteps:\n  - {id: a, step: flat_fild}\n")
    assert strun([str(pipe), "whatever.fits"]) == 2
    assert f"{pipe}:6: step 'a': unknown step 'flat_fild' (did you mean 'flat_field'?)" in capsys.readouterr().err


def test_many_inputs_in_parallel_with_a_failure_summary(demo_session, ref_args, tmp_path, capsys):
    bad = tmp_path / "in" / "bad.fits"
    bad.parent.mkdir()
    bad.write_bytes(b"SIMPLE  = garbage")
    copies = []
    for i in range(3):
        copy = tmp_path / "in" / f"img{i}.fits"
        copy.write_bytes(demo_session.image.read_bytes())
        copies.append(str(copy))
    out = tmp_path / "out"
    code = strun(["generic_image2", *copies, str(bad), *ref_args, "-o", str(out), "-j", "2", "-q"])
    assert code == 3
    err = capsys.readouterr().err
    assert "3 of 4 inputs calibrated, 1 failed" in err, "summary counts"
    assert "FAILED" in err, "FAILED shown"
    assert "bad.fits" in err, "the bad file named"
    assert sorted(p.name for p in out.iterdir()) == ["img0_cal.fits", "img1_cal.fits", "img2_cal.fits"]
    reference = open_product(out / "img0_cal.fits").data
    for i in (1, 2):
        assert open_product(out / f"img{i}_cal.fits").data.tobytes() == reference.tobytes()


def test_dry_run_writes_nothing(demo_session, ref_args, tmp_path, capsys):
    out = tmp_path / "out"
    assert strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(out), "--dry-run"]) == 0
    assert "mask=demo_mask_0001.fits" in capsys.readouterr().out
    assert not out.exists()


def test_separate_process_gives_identical_bytes(demo_session, ref_args, tmp_path):
    """Same input + pipeline + references: the same SCI/ERR/DQ bytes in any process."""
    in_process = tmp_path / "a"
    assert strun(["generic_image2", str(demo_session.image), *ref_args, "-o", str(in_process), "-q"]) == 0
    sub = tmp_path / "b"
    subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "generic_image2", str(demo_session.image),
                    *ref_args, "-o", str(sub), "-q"], check=True)
    a, b = open_product(in_process / "demo_image_cal.fits"), open_product(sub / "demo_image_cal.fits")
    for name in ("data", "err", "dq"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()


def test_debug_shows_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "generic_image2",
                             str(tmp_path / "nope.fits"), "--ref", "mask=/dev/null", "--ref", "flat=/dev/null",
                             "--debug"], capture_output=True, text=True)
    assert result.returncode == 4
    assert "Traceback" in result.stderr


@pytest.mark.skipif(shutil.which("fitsverify") is None, reason="fitsverify not installed (apt fitsverify)")
def test_strun_product_passes_fitsverify_and_opens_with_plain_astropy(demo_session, tmp_path):
    from astropy.io import fits

    assert strun(["generic_image2", str(demo_session.image), "-o", str(tmp_path), "-q"]) == 0
    product = tmp_path / "demo_image_cal.fits"
    result = subprocess.run(["fitsverify", "-q", str(product)], capture_output=True, text=True)
    assert "verification OK" in result.stdout, result.stdout + result.stderr
    with fits.open(product) as hdul:
        assert hdul["SCI"].data.shape == (128, 128), "SCI shape"
        assert hdul[0].header["S_FLATFI"] == "COMPLETE", "S_FLATFI keyword"


def test_output_may_not_overwrite_an_input(demo_session, tmp_path, capsys):
    assert strun(["generic_image2", str(demo_session.image), "-o", str(tmp_path), "-q"]) == 0
    product = tmp_path / "demo_image_cal.fits"
    before = product.read_bytes()
    assert strun(["generic_image2", str(product), "-o", str(tmp_path), "-q"]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
    assert product.read_bytes() == before


def test_inputs_with_the_same_name_are_refused(demo_session, tmp_path, capsys):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.fits").write_bytes(demo_session.image.read_bytes())
    assert strun(["generic_image2", str(tmp_path / "a" / "x.fits"), str(tmp_path / "b" / "x.fits"),
                  "-o", str(tmp_path / "out")]) == 2
    assert "x.fits appear more than once" in capsys.readouterr().err


def test_ref_checks(demo_session, tmp_path, capsys):
    args = ["generic_image2", str(demo_session.image), "-o", str(tmp_path / "o"), "-q"]
    assert strun([*args, "--ref", f"flta={demo_session.flat}"]) == 2
    assert "uses no 'flta' reference (did you mean 'flat'?)" in capsys.readouterr().err
    assert strun([*args, "--ref", f"flat={demo_session.truth}"]) == 4
    assert "a ImageModel, not a reference file, but it was given as 'flat'" in capsys.readouterr().err


def test_unknown_pipeline_parameter_is_an_error(demo_session, tmp_path, capsys):
    assert strun(["generic_image2", str(demo_session.image), "--set", "min_flat=0.5",
                  "-o", str(tmp_path)]) == 2
    assert "generic_image2 has no pipeline parameter 'min_flat' (set a step parameter" in capsys.readouterr().err


def test_reference_file_or_bad_level_as_input_is_exit_3(demo_session, tmp_path, capsys):
    assert strun(["generic_image2", str(demo_session.flat), "-o", str(tmp_path)]) == 3
    assert "is a reference file, not a product to calibrate" in capsys.readouterr().err
    from astropy.io import fits

    bad = tmp_path / "bad_level.fits"
    bad.write_bytes(demo_session.image.read_bytes())
    with fits.open(bad, mode="update") as hdul:
        hdul[0].header["DATALVL"] = "two"
    assert strun(["generic_image2", str(bad), "-o", str(tmp_path / "o")]) == 3
    assert "bad_level.fits: not a readable FITS product" in capsys.readouterr().err


def test_options_may_follow_inputs_between_them(demo_session, tmp_path):
    copy = tmp_path / "in" / "other.fits"
    copy.parent.mkdir()
    copy.write_bytes(demo_session.image.read_bytes())
    assert strun(["generic_image2", str(demo_session.image), "-o", str(tmp_path / "o"), str(copy), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["demo_image_cal.fits", "other_cal.fits"]


def test_parallel_workers_on_an_empty_store_share_one_context(demo_session, tmp_path):
    from calpipe.refdata.store import Store

    inputs = []
    for i in range(3):
        copy = tmp_path / "in" / f"img{i}.fits"
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(demo_session.image.read_bytes())
        inputs.append(str(copy))
    store = tmp_path / "store"
    assert strun(["generic_image2", *inputs, "--refdata", str(store), "-o", str(tmp_path / "o"),
                  "-j", "2", "-q"]) == 0
    assert Store(store).context_numbers() == [1]
    assert len(list((tmp_path / "o").glob("*_cal.fits"))) == 3
