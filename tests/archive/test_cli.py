"""`calpipe archive`: how commands find their archive, and what they refuse."""

from __future__ import annotations

from calpipe.core.cli.calpipe import main as calpipe


def test_commands_find_the_archive_by_option_environment_or_cwd(tmp_path, monkeypatch, nir_downlink, capsys):
    assert calpipe(["archive", "init", str(tmp_path / "a")]) == 0
    assert calpipe(["archive", "init", str(tmp_path / "a")]) == 2
    assert "already an archive" in capsys.readouterr().err
    assert calpipe(["archive", "ingest", str(nir_downlink.raws[0]), "--archive", str(tmp_path / "a")]) == 0
    monkeypatch.setenv("CALPIPE_ARCHIVE", str(tmp_path / "a"))
    capsys.readouterr()
    assert calpipe(["archive", "search", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4  # header + raw, rate, cal
    monkeypatch.delenv("CALPIPE_ARCHIVE")
    monkeypatch.chdir(tmp_path / "a")
    assert calpipe(["archive", "search", "--level", "1", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    monkeypatch.chdir(tmp_path)
    assert calpipe(["archive", "search"]) == 2
    assert "not an archive" in capsys.readouterr().err


def test_usage_errors_are_exit_2_with_the_fix(tmp_path, capsys):
    assert calpipe(["archive", "init", str(tmp_path / "a")]) == 0
    base = ["--archive", str(tmp_path / "a")]
    assert calpipe(["archive", "get", "x", "--context", "3", "-o", str(tmp_path), *base]) == 2
    assert "--context goes with --pinned" in capsys.readouterr().err
    assert calpipe(["archive", "get", "x", "-o", str(tmp_path), *base]) == 3
    assert "not in the archive" in capsys.readouterr().err
    assert calpipe(["archive", "search", "--db", "nonsense", *base]) == 2
    assert "not a database URL" in capsys.readouterr().err
