"""Commands behave as a new user expects (issue 14, item 7): the reference store: each case was a surprise once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.refdata.store import Store


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "store"
    assert calpipe(["refdata", "--refdata", str(root), "init", "--upto", "1"]) == 0
    return root


def test_refdata_takes_the_store_after_the_subcommand(root, capsys, monkeypatch):
    monkeypatch.setenv("CALPIPE_REFDATA", str(root.parent / "elsewhere"))
    capsys.readouterr()
    assert calpipe(["refdata", "list", "--refdata", str(root)]) == 0
    assert "0001" in capsys.readouterr().out
    assert not (root.parent / "elsewhere").exists()


@pytest.mark.parametrize("login", ["ada", "grace"])
def test_publish_without_author_takes_the_login_name(root, make_ref, monkeypatch, capsys, login):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: login)
    base = ["refdata", "--refdata", str(root)]
    assert calpipe([*base, "add", str(make_ref("demo_flat_0002.fits", useafter="2025-06-01T00:00:00"))]) == 0
    assert calpipe([*base, "publish", "--rationale", "new flat"]) == 0
    assert Store(root).load(1000).author == login


def test_publish_without_author_or_login_refuses(root, make_ref, monkeypatch, capsys):
    import getpass

    def nobody():
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", nobody)
    base = ["refdata", "--refdata", str(root)]
    assert calpipe([*base, "add", str(make_ref("demo_flat_0002.fits", useafter="2025-06-01T00:00:00"))]) == 0
    assert calpipe([*base, "publish", "--rationale", "new flat"]) == 2
    assert "pass --author NAME" in capsys.readouterr().err
    assert Store(root).context_numbers() == [1]


def test_output_cut_short_by_the_reader_is_not_an_internal_error(root):
    read, write = os.pipe()
    os.close(read)  # the reader is gone, as after `| head -1`
    proc = subprocess.run([sys.executable, "-m", "calpipe.core.cli.calpipe", "refdata", "--refdata", str(root),
                           "show", "1"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr


def test_affected_names_a_missing_selection_column(root, make_ref, tmp_path, capsys):
    base = ["refdata", "--refdata", str(root)]
    assert calpipe([*base, "add", str(make_ref("demo_flat_0002.fits", useafter="2025-06-01T00:00:00"))]) == 0
    assert calpipe([*base, "publish", "--rationale", "new flat", "--author", "t"]) == 0
    catalog = tmp_path / "obs.csv"
    catalog.write_text("dataset,pipeline,INSTRUME,DATE-OBS\nlate,generic_image2,DEMO,2025-07-01T00:00:00\n")
    capsys.readouterr()
    assert calpipe([*base, "affected", "1", "1000", "--catalog", str(catalog)]) == 2
    err = capsys.readouterr().err
    assert "no column DETECTOR" in err
    assert "demo/flat" in err
    assert "0 of 1" not in err


def test_bestref_says_when_the_context_does_not_cover_the_instrument(root, tmp_path, capsys):
    from calpipe.instruments.nir.simulate import simulate

    raw = simulate(tmp_path / "nir", subarray=32, ngroups=3, seed=1).raw
    assert calpipe(["refdata", "--refdata", str(root), "bestref", str(raw), "--context", "1"]) == 4
    err = capsys.readouterr().err
    assert "context 0001 has no reference files for instrument nir (it covers: demo)" in err
