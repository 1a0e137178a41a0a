"""Issue 13, class 3 (information disclosure): a file given to calpipe cannot make it read, or quote,
any other file.

Imports resolve only to registered pipelines or to .yaml files under the importing file's
directory (or $CALPIPE_ALLOWED_DIRS); association members likewise under the association's
directory; a file that is not a pipeline (or config) file is called so without quoting it.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun
from calpipe.core.errors import ConfigProblems
from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry

CLI_TIMEOUT = 120  # seconds
CANARY = "CANARY_4f1c9e"  # a secret outside the pipeline's directory; must never be printed


def _pipeline(path: Path, imports: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"  - {{pipeline: '{i}'}}\n" for i in imports)
    path.write_text(f"name: p\nversion: 1.0.0\ninput: 2\noutput: 2\nimports:\n{body}")
    return path


@pytest.fixture
def secret(tmp_path) -> Path:
    """A mapping of secret lines outside the pipeline's directory (once echoed as 'unknown key')."""
    path = tmp_path / "private" / "secret.yaml"
    path.parent.mkdir()
    path.write_text(f"{CANARY}_user: {CANARY}_password\n{CANARY}_token: 12345\n")
    return path


def _show(pipeline: Path, capsys) -> tuple[int, str]:
    code = calpipe(["show", str(pipeline)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("how", ["absolute", "relative", "symlink", "no_suffix"])
def test_an_import_outside_the_pipelines_directory_is_refused_unread(secret, tmp_path, capsys, how):
    work = tmp_path / "work" / "pipes"
    work.mkdir(parents=True)
    if how == "symlink":  # inside by name, outside in fact
        (work / "base.yaml").symlink_to(secret)
        ref = "base.yaml"
    elif how == "no_suffix":
        plain = secret.with_suffix("")
        shutil.copy(secret, plain)
        ref = str(plain)
    else:
        ref = str(secret) if how == "absolute" else "../../private/secret.yaml"
    code, text = _show(_pipeline(work / "p.yaml", [ref]), capsys)
    assert code == 2
    assert CANARY not in text
    assert f"import '{ref}'" in text
    assert ("not a pipeline file" if how == "no_suffix" else "outside") in text


def test_etc_passwd_by_absolute_and_dot_dot_paths(tmp_path, capsys):
    """The reproduction: /etc/passwd and ../../etc/passwd; no line of it may be printed."""
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    up = "../" * (len(tmp_path.parts) + 2) + "etc/passwd"
    code, text = _show(_pipeline(tmp_path / "p.yaml", [str(passwd), up]), capsys)
    assert code == 2
    lines = [line for line in passwd.read_text().splitlines() if line.strip()]
    assert not [line for line in lines if line.split(":")[0] + ":" in text]
    assert text.count("not a pipeline file") == 2


def test_an_import_from_an_allowed_directory_is_read(secret, tmp_path, capsys, monkeypatch):
    """$CALPIPE_ALLOWED_DIRS opens another directory on purpose; then the file is read, and judged."""
    base = secret.parent / "base.yaml"
    base.write_text("name: base\nversion: 1.0.0\ninput: 2\noutput: 2\nsteps:\n  - {id: dq_init, step: dq_init}\n")
    pipeline = _pipeline(tmp_path / "work" / "p.yaml", [str(base)])
    assert _show(pipeline, capsys)[0] == 2
    monkeypatch.setenv("CALPIPE_ALLOWED_DIRS", str(secret.parent))
    code, text = _show(pipeline, capsys)
    assert code == 0, text
    assert "dq_init" in text


def test_imports_under_the_directory_and_registered_names_still_work(tmp_path, capsys):
    sub = tmp_path / "lib"
    sub.mkdir()
    (sub / "base.yaml").write_text("name: base\nversion: 1.0.0\ninput: 2\noutput: 2\n"
                                   "steps:\n  - {id: dq_init, step: dq_init}\n")
    code, text = _show(_pipeline(tmp_path / "p.yaml", ["lib/base.yaml", "nir_image2"]), capsys)
    assert code == 0, text
    assert "dq_init" in text and "photom" in text


@pytest.mark.parametrize(("name", "content"), [
    ("data.yaml", f"{CANARY}: 1\n{CANARY}_b: 2\n".encode()),   # YAML, but not a pipeline
    ("list.yaml", f"- {CANARY}\n- {CANARY}\n".encode()),          # not a mapping
    ("binary.yaml", b"\xff\xfe\x00" + CANARY.encode() + b"\x80"),  # not UTF-8
    ("text.yaml", f"{CANARY} is a sentence, not YAML keys\n".encode()),
])
def test_a_file_that_is_no_pipeline_is_called_so_without_quoting_it(tmp_path, capsys, name, content):
    (tmp_path / name).write_bytes(content)
    code, text = _show(_pipeline(tmp_path / "p.yaml", [name]), capsys)
    assert code == 2
    assert "not a pipeline file" in text
    assert CANARY not in text


def test_strun_and_config_given_a_foreign_file_do_not_quote_it(secret, demo_session, tmp_path, capsys):
    assert strun([str(secret), str(demo_session.image), "-o", str(tmp_path / "out")]) == 2
    first = capsys.readouterr().err
    assert strun(["generic_image2", str(demo_session.image), "--config", str(secret),
                  "-o", str(tmp_path / "out")]) == 2
    second = capsys.readouterr().err
    assert "not a pipeline file" in first and "not a config file" in second
    assert CANARY not in first + second


def test_strun_subprocess_import_of_etc_shadow_like_file(secret, demo_session, tmp_path):
    """End to end, as a user runs it: exit 2 and the secret's lines nowhere in the output."""
    pipeline = _pipeline(tmp_path / "work" / "p.yaml", [str(secret)])
    run = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", str(pipeline),
                          str(demo_session.image), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert run.returncode == 2
    assert CANARY not in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()


# -- association members ------------------------------------------------------------------------
@pytest.fixture
def outside_member(demo_session, tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "demo_image.fits"
    path.parent.mkdir()
    shutil.copy(demo_session.image, path)
    return path


@pytest.mark.parametrize("how", ["dot_dot", "absolute", "symlink"])
def test_association_members_outside_its_directory_are_refused(outside_member, ref_args, tmp_path, capsys,
                                                               how):
    asn_dir = tmp_path / "asn"
    asn_dir.mkdir()
    if how == "symlink":
        (asn_dir / "linked.fits").symlink_to(outside_member)
        member = "linked.fits"
    else:
        member = "../elsewhere/demo_image.fits" if how == "dot_dot" else str(outside_member)
    asn = asn_dir / "obs.yaml"
    asn.write_text(f"name: obs\nmembers: ['{member}']\n")
    assert strun(["generic_image2", str(asn), *ref_args, "-o", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert f"member(s) {member} outside {asn_dir}" in err
    assert not (tmp_path / "out").exists()


def test_association_members_from_an_allowed_directory_run(outside_member, ref_args, tmp_path, monkeypatch):
    asn = tmp_path / "asn" / "obs.yaml"
    asn.parent.mkdir()
    asn.write_text(f"name: obs\nmembers: ['{outside_member}']\n")
    monkeypatch.setenv("CALPIPE_ALLOWED_DIRS", str(outside_member.parent))
    assert strun(["generic_image2", str(asn), *ref_args, "-o", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "demo_image_cal.fits").is_file()


_SEGMENTS = st.lists(st.sampled_from(["..", ".", "lib", "sub", "x"]), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(parts=_SEGMENTS)
def test_an_import_path_is_refused_exactly_when_it_leaves_the_directory(tmp_path_factory, parts):
    """Oracle: the path normalised as text (no symlinks here) starts outside the importing directory."""
    root = tmp_path_factory.mktemp("tree")
    home = root.joinpath(*"abcdefg")  # deeper than the longest path climbs: every file stays in root
    ref = "/".join([*parts, "base.yaml"])
    home.mkdir(parents=True)
    for i, part in enumerate(parts):  # every directory the path passes through exists
        if part not in ("..", "."):
            home.joinpath(*parts[: i + 1]).mkdir(parents=True, exist_ok=True)
    target = (home / ref).resolve()
    assert target.is_relative_to(root)
    target.write_text("name: base\nversion: 1.0.0\ninput: 2\noutput: 2\nsteps:\n  - {id: dq_init, step: dq_init}\n")
    leaves = not posixpath.normpath(posixpath.join(str(home), ref)).startswith(str(home) + "/")
    pipeline = _pipeline(home / "p.yaml", [ref])
    if leaves:
        with pytest.raises(ConfigProblems, match=f"import '{re.escape(ref)}' is outside"):
            resolve(str(pipeline), get_registry())
    else:
        assert [s.id for s in resolve(str(pipeline), get_registry()).steps] == ["dq_init"]
