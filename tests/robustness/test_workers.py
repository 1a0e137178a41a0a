"""Workers that fail alone: a dead worker costs only its own input, workers die with their parent,
and temp files left by a kill are cleaned by the next run."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calpipe.core.association import Group
from calpipe.core.io import clean_stale_parts, temp_prefix
from calpipe.core.workers import run_pool

from .harness import kill_group, leftovers, run_cli, start_cli


class _PoisonRunner:
    """Writes <name>.done per group; a group named 'poison' SIGKILLs its worker (after a mark)."""

    def run_group(self, group: Group, output_dir: Path, save: bool) -> list[Path]:
        if group.name.startswith("poison"):
            with open(output_dir / f"{group.name}.attempts", "a") as f:
                f.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        out = output_dir / f"{group.name}.done"
        out.write_text(str(os.getpid()))
        return [out]


def _poison_runner() -> _PoisonRunner:
    return _PoisonRunner()


def _groups(tmp_path: Path, names: list[str]) -> list[Group]:
    return [Group(n, (tmp_path / f"{n}.fits",), tmp_path / f"{n}.fits") for n in names]


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_dying_worker_costs_only_its_own_input_retried_once(tmp_path, jobs):
    names = ["a", "b", "poison", "c", "d", "e"]
    outcomes = run_pool(_poison_runner, _groups(tmp_path, names), tmp_path, jobs, False)
    assert [o.input.stem for o in outcomes] == names  # in input order
    ok = [o.input.stem for o in outcomes if o.error is None]
    assert ok == ["a", "b", "c", "d", "e"]
    bad = outcomes[2]
    assert bad.exit_code == 1
    assert "died (killed by SIGKILL), also when retried" in bad.error
    attempts = (tmp_path / "poison.attempts").read_text().split()
    assert len(attempts) == 2  # retried exactly once
    assert len(set(attempts)) == 2  # ...in a fresh worker


def test_two_poisons_and_every_other_input_still_done(tmp_path):
    names = ["poison1", "a", "poison2", "b", "c"]
    outcomes = run_pool(_poison_runner, _groups(tmp_path, names), tmp_path, 2, False)
    assert [o.error is None for o in outcomes] == [False, True, False, True, True]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _copies(pristine, directory: Path, n: int) -> list[str]:
    directory.mkdir()
    paths = []
    for i in range(n):
        shutil.copy(pristine.image, directory / f"img{i}.fits")
        paths.append(str(directory / f"img{i}.fits"))
    return paths


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _refs(pristine) -> list[str]:
    return ["--ref", f"mask={pristine.mask}", "--ref", f"flat={pristine.flat}"]


def test_killing_one_strun_worker_loses_no_input(pristine, tmp_path):
    inputs = _copies(pristine, tmp_path / "in", 8)
    out = tmp_path / "out"
    proc = start_cli("strun", ["generic_image2", *inputs, *_refs(pristine), "-o", str(out), "-j", "2", "-q"],
                     tmp_path)
    try:
        deadline = time.monotonic() + 60
        victims: set[int] = set()
        while time.monotonic() < deadline and not victims:
            victims = {c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)}
            time.sleep(0.05)
        assert victims, "no worker process appeared"
        os.kill(min(victims), signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        kill_group(proc)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(f"img{i}_cal.fits" for i in range(8))
    assert leftovers(out) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_workers_die_with_their_parent(pristine, tmp_path):
    inputs = _copies(pristine, tmp_path / "in", 6)
    proc = start_cli("strun", ["generic_image2", *inputs, *_refs(pristine), "-o", str(tmp_path / "out"),
                               "-j", "2", "-q"], tmp_path)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2:
            workers = {c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)}
            time.sleep(0.05)
        assert len(workers) == 2, "the two workers did not start"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent by 5 s"
    finally:
        kill_group(proc)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_of_dead_runs_are_cleaned_live_ones_kept(tmp_path):
    dead = tmp_path / f"{temp_prefix('x_cal.fits').replace(str(os.getpid()), str(_dead_pid()))}k3j_a9.part"
    live = tmp_path / f"{temp_prefix('y_cal.fits')}q1w2e3.part"
    foreign = tmp_path / ".someone-else.part"  # not our naming: never touched
    for p in (dead, live, foreign):
        p.write_bytes(b"partial")
    assert clean_stale_parts(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, foreign.name])


def test_a_run_into_a_directory_a_killed_run_left_cleans_it(pristine, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".demo_image_cal.fits.{_dead_pid()}.abc123.part"
    stale.write_bytes(b"\0" * 2880)
    result = run_cli("strun", ["generic_image2", str(pristine.image), *_refs(pristine), "-o", str(out), "-q"],
                     tmp_path)
    assert result.code == 0, result
    assert sorted(p.name for p in out.iterdir()) == ["demo_image_cal.fits"]


def test_worker_factory_failure_is_reported_per_input_not_a_hang(tmp_path):
    outcomes = run_pool(functools.partial(_raise, "no such context"), _groups(tmp_path, ["a", "b", "c"]),
                        tmp_path, 2, False)
    assert [o.exit_code for o in outcomes] == [4, 4, 4]
    assert all("no such context" in o.error for o in outcomes)


def _raise(message: str):
    from calpipe.core.errors import RefDataError

    raise RefDataError(message)
