"""Log lines a user can follow: library warnings name their step and input, -j workers log, --log-file."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest

from calpipe.core.io import open_product, write_atomic
from calpipe.core.logs import InputPrefix
from calpipe.core.pipeline import resolve
from calpipe.core.refs import OverrideResolver
from calpipe.core.registry import get_registry
from calpipe.core.runner import Runner
from calpipe.steps.flat_field.step import FlatFieldStep


def _warning_flat(monkeypatch, times: int):
    real = FlatFieldStep.process

    def process(self, product, refs, params):
        for _ in range(times):
            warnings.warn("the flat has 42 pixels below min_flat", UserWarning, stacklevel=1)
        return real(self, product, refs, params)

    monkeypatch.setattr(FlatFieldStep, "process", process)


@pytest.mark.parametrize("times", [1, 3])
def test_a_step_warning_becomes_one_log_line_naming_step_and_input(demo_session, tmp_path, monkeypatch,
                                                                  caplog, times):
    _warning_flat(monkeypatch, times)
    runner = Runner(resolve("generic_image2", get_registry()),
                    OverrideResolver({"mask": demo_session.mask, "flat": demo_session.flat}),
                    registry=get_registry())
    caplog.handler.addFilter(InputPrefix())  # as every handler calpipe's CLIs install
    with caplog.at_level(logging.INFO), warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        runner.run_file(demo_session.image, tmp_path)
    assert escaped == []  # nothing left for the raw warnings machinery (file paths, source lines)
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in lines] == [
        "flat_field: UserWarning: the flat has 42 pixels below min_flat"
        + (f" ({times} times)" if times > 1 else "")]
    assert lines[0].input_prefix == "demo_image.fits: "
    done = [r for r in caplog.records if "flat_field 1.0.0 done" in r.getMessage()]
    assert done[0].input_prefix == "demo_image.fits: "


def _strun(args, cwd):
    return subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ), timeout=300)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_input_s_step_lines_reach_the_log_file(demo_session, tmp_path, jobs):
    second = write_atomic(open_product(demo_session.image), tmp_path / "in" / "second_image.fits")
    refs = ["--ref", f"mask={demo_session.mask}", "--ref", f"flat={demo_session.flat}"]
    log_file = tmp_path / "run.log"
    proc = _strun(["generic_image2", demo_session.image, second, *refs, "-o", tmp_path / "out", "-j", jobs,
                   "-q", "--log-file", log_file], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "done in" not in proc.stderr  # -q: stderr has warnings only; the file has everything
    text = log_file.read_text()
    for name in ("demo_image.fits", "second_image.fits"):
        for step in ("dq_init", "flat_field"):
            assert sum(f"{name}: {step}" in line and " done in " in line for line in text.splitlines()) == 1, \
                (name, step, text)
        assert f"{name}: wrote " in text


def test_compiling_is_announced_once_and_only_while_not_cached(tmp_path, monkeypatch, caplog):
    import importlib

    from calpipe.steps import kernels

    (tmp_path / "tiny_kernels.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tiny_kernels")
    monkeypatch.setattr(kernels, "_announced", set())
    with caplog.at_level(logging.INFO, logger="calpipe"):
        kernels.announce_compiling("tiny", module)
        kernels.announce_compiling("tiny", module)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["compiling the tiny kernels"]
    assert module.twice(21) == 42  # compiled and cached on disk now
    caplog.clear()
    monkeypatch.setattr(kernels, "_announced", set())
    with caplog.at_level(logging.INFO, logger="calpipe"):
        kernels.announce_compiling("tiny", module)
    assert caplog.records == []
