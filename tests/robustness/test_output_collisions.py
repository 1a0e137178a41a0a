"""Issue 13, class 1 (silent data loss): no run may write over another run's output or input.

Every collision is refused with exit 2 before anything runs, naming both inputs and the output;
the output directory stays empty.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpipe.core.api import input_groups
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun
from calpipe.core.errors import UsageError
from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry
from calpipe.level0.downlink import simulate_downlink

from ..level0.conftest import make_frame

CLI_TIMEOUT = 180  # seconds: a hang is a failure, not a stuck suite

MAKE_RATE = """\
name: make_rate
version: 1.0.0
input: 2
output: 2
suffix: rate
steps:
  - {id: dq_init, step: dq_init}
"""


@pytest.fixture
def rate_pair(demo_session, tmp_path) -> tuple[Path, Path]:
    """x_rate.fits, made by a pipeline whose suffix is 'rate' (its output stem is 'x'), and x.fits."""
    pipeline = tmp_path / "make_rate.yaml"
    pipeline.write_text(MAKE_RATE)
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(demo_session.image, src / "x.fits")
    assert strun([str(pipeline), str(src / "x.fits"), "--ref", f"mask={demo_session.mask}",
                  "-o", str(src), "-q"]) == 0
    return src / "x_rate.fits", src / "x.fits"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*")) if directory.exists() else []


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_inputs_whose_outputs_share_a_name_are_refused_before_anything_runs(rate_pair, ref_args, tmp_path,
                                                                           jobs):
    """The reproduction: x_rate.fits and x.fits both make x_cal.fits (was: '2 of 2 calibrated', one file)."""
    rate, plain = rate_pair
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "generic_image2", str(rate),
                          str(plain), *ref_args, "-o", str(out), "-j", jobs],
                         capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert run.returncode == 2, run.stderr
    assert str(rate) in run.stderr and str(plain) in run.stderr
    assert str(out / "x_cal.fits") in run.stderr
    assert _files(out) == []


def test_a_saved_step_that_would_overwrite_another_input_is_refused(demo_session, ref_args, tmp_path, capsys):
    """a.fits saves a_dq_init.fits with --save-intermediates: over the other input of that name."""
    for name in ("a.fits", "a_dq_init.fits"):
        shutil.copy(demo_session.image, tmp_path / name)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    code = strun(["generic_image2", str(tmp_path / "a.fits"), str(tmp_path / "a_dq_init.fits"), *ref_args,
                  "-o", str(tmp_path), "--save-intermediates"])
    assert code == 2
    err = capsys.readouterr().err
    assert "would overwrite the input" in err and f"{tmp_path / 'a_dq_init.fits'}" in err
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written, inputs untouched


def test_an_output_that_is_another_runs_input_is_refused(demo_session, ref_args, tmp_path, capsys):
    """p.fits -> p_cal.fits in the input directory: the other input, which has not run yet."""
    for name in ("p.fits", "p_cal.fits"):
        shutil.copy(demo_session.image, tmp_path / name)
    assert strun(["generic_image2", str(tmp_path / "p.fits"), str(tmp_path / "p_cal.fits"), *ref_args,
                  "-o", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"the output {tmp_path / 'p_cal.fits'} of {tmp_path / 'p.fits'}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.fits", "p_cal.fits"]


def test_the_same_name_from_two_directories_is_refused(demo_session, ref_args, tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(demo_session.image, tmp_path / sub / "x.fits")
    assert strun(["generic_image2", str(tmp_path / "a/x.fits"), str(tmp_path / "b/x.fits"), *ref_args,
                  "-o", str(tmp_path / "out"), "-q", "-j", "2"]) == 2
    assert "x.fits appear more than once" in capsys.readouterr().err
    assert _files(tmp_path / "out") == []


def test_association_members_whose_outputs_collide_are_refused(rate_pair, ref_args, tmp_path, capsys):
    """An ordinary pipeline runs each member: two members making x_cal.fits are refused like loose files."""
    rate, plain = rate_pair
    association = rate.parent / "asn.yaml"
    association.write_text(f"name: asn\nmembers: [{rate.name}, {plain.name}]\n")
    assert strun(["generic_image2", str(association), *ref_args, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "x_cal.fits" in err and rate.name in err and plain.name in err
    assert _files(tmp_path / "out") == []


def test_distinct_outputs_still_run(rate_pair, ref_args, tmp_path, capsys):
    """The check refuses collisions only: x_rate.fits alone, and y.fits beside it, both calibrate."""
    rate, plain = rate_pair
    other = plain.with_name("y.fits")
    plain.rename(other)
    assert strun(["generic_image2", str(rate), str(other), *ref_args, "-o", str(tmp_path / "out"), "-q"]) == 0
    assert _files(tmp_path / "out") == ["x_cal.fits", "y_cal.fits"]


_STEMS = st.sampled_from(["a", "b", "a_uncal", "b_raw", "a_raw", "b_uncal", "c"])


@settings(max_examples=60, deadline=None)
@given(names=st.lists(_STEMS, min_size=2, max_size=5, unique=True))
def test_refused_exactly_when_two_outputs_coincide(tmp_path_factory, names):
    """Raw names lose _uncal/_raw: a_uncal and a_raw both make a_<suffix>; refused iff two stems agree."""
    pipeline = resolve("generic_image2", get_registry())
    src = tmp_path_factory.mktemp("names")
    paths = [src / f"{n}.fits" for n in names]  # not opened: names alone decide
    stems = [n.removesuffix("_uncal").removesuffix("_raw") for n in names]
    collide = len(set(stems)) < len(stems)
    if collide:
        with pytest.raises(UsageError, match="would both be written as"):
            input_groups(pipeline, paths, src / "out")
    else:
        assert len(input_groups(pipeline, paths, src / "out")) == len(names)


@pytest.fixture(scope="module")
def same_filename_downlink(tmp_path_factory) -> list[Path]:
    """Two exposures (00001:002:00001 and :00002) sent with one FILENAME, same_uncal.fits."""
    tmp = tmp_path_factory.mktemp("same_filename")
    raws = [make_frame(tmp / f"e{e}" / "same_uncal.fits", exposure=f"0000{e}") for e in (1, 2)]
    files, _ = simulate_downlink(raws, tmp / "tlm", files=2)
    return files


def test_level0_exposures_sent_with_one_filename_are_refused(same_filename_downlink, tmp_path, capsys):
    """The reproduction: 'wrote out/same_uncal.fits' twice, exit 0; now exit 2 and nothing written."""
    out = tmp_path / "out"
    code = calpipe(["level0", "extract", *map(str, same_filename_downlink), "--tag", "00001", "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "00001:002:00001" in err and "00001:002:00002" in err
    assert str(out / "same_uncal.fits") in err
    assert _files(out) == []


def test_level0_one_of_the_two_exposures_is_still_extracted(same_filename_downlink, tmp_path):
    """Selecting one exposure leaves no collision: it is written under its name."""
    out = tmp_path / "out"
    assert calpipe(["level0", "extract", *map(str, same_filename_downlink), "--tag", "00001:002:00002",
                    "-o", str(out)]) == 0
    assert _files(out) == ["same_uncal.fits"]


def test_a_dry_run_refuses_the_collision_too(rate_pair, ref_args, tmp_path, capsys):
    """--dry-run checks everything a run would: the same exit 2, not 'dry run: nothing written'."""
    rate, plain = rate_pair
    assert strun(["generic_image2", str(rate), str(plain), *ref_args, "-o", str(tmp_path / "out"),
                  "--dry-run"]) == 2
    out = capsys.readouterr()
    assert "would both be written as" in out.err and "dry run" not in out.out
