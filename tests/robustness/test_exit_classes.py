"""Wrong exit class or unclear message: corrupt structure is bad input (3), a corrupt store is a
reference-data error (4) naming the file, a full disk says so, bad options are usage errors (2)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from . import corpus
from .harness import ROOT, assert_refused, fingerprint, leftovers


def _refs(pristine) -> list[str]:
    return ["--ref", f"mask={pristine.mask}", "--ref", f"flat={pristine.flat}"]


def _edited(src: Path, dst: Path, edit) -> Path:
    with fits.open(src) as hdul:
        edit(hdul)
        hdul.writeto(dst)
    return dst


# -- corrupt structure: exit 3 -------------------------------------------------------------
@pytest.mark.parametrize(("case", "edit", "message"), [
    ("no_err", lambda h: h.pop(h.index_of("ERR")), "ERR"),
    ("no_sci", lambda h: h.pop(h.index_of("SCI")), "SCI"),
    ("no_dq", lambda h: h.pop(h.index_of("DQ")), "DQ"),
    ("no_asdf", lambda h: h.pop(h.index_of("ASDF")), "DATAMODL"),
    ("sci_3d", lambda h: setattr(h["SCI"], "data", h["SCI"].data[None]), "wrong number of dimensions"),
    ("err_cropped", lambda h: setattr(h["ERR"], "data", h["ERR"].data[:64].copy()), "ERR"),
])
def test_missing_or_misshapen_hdus_are_bad_input(cli, pristine, tmp_path, case, edit, message):
    def edit_safely(hdul):
        if case == "no_asdf":
            hdul[0].header.remove("DATAMODL", ignore_missing=True)
        edit(hdul)

    bad = _edited(pristine.image, tmp_path / f"{case}.fits", edit_safely)
    before = fingerprint([bad])
    result = cli.run("strun", ["generic_image2", str(bad), *_refs(pristine), "-o", str(tmp_path / "out")],
                     tmp_path)
    assert_refused(result, [bad.name, message], codes={3}, output_dir=tmp_path / "out", inputs=before)


def test_missing_extname_is_bad_input(cli, pristine, tmp_path):
    bad = tmp_path / "noname.fits"
    bad.write_bytes(corpus.set_card(pristine.image.read_bytes(), 1, "EXTNAME", None))
    result = cli.run("strun", ["generic_image2", str(bad), *_refs(pristine), "-o", str(tmp_path / "out")],
                     tmp_path)
    assert_refused(result, [str(bad), "SCI"], codes={3})


def test_bit_flip_in_the_asdf_extension_header_is_bad_input(cli, pristine, tmp_path):
    data = pristine.image.read_bytes()
    at = data.index(b"%YAML")
    bad = tmp_path / "flipped.fits"
    bad.write_bytes(corpus.flip_bit(data, at + 1, 0))  # %YAML -> %XAML
    result = cli.run("strun", ["generic_image2", str(bad), *_refs(pristine), "-o", str(tmp_path / "out")],
                     tmp_path)
    assert_refused(result, [str(bad)], codes={3})


@pytest.mark.parametrize("name", ["new\nline.fits", "x" * 300 + ".fits", "tab\there.fits"])
def test_odd_file_names_are_bad_input_not_internal(cli, pristine, tmp_path, name):
    result = cli.run("strun", ["generic_image2", str(tmp_path / name), *_refs(pristine), "-o",
                               str(tmp_path / "out")], tmp_path)
    assert_refused(result, [name[:40]], codes={3})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable directories")
def test_unreadable_directory_is_bad_input(cli, pristine, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(pristine.image, locked / "x.fits")
    locked.chmod(0)
    try:
        result = cli.run("strun", ["generic_image2", str(locked / "x.fits"), *_refs(pristine), "-o",
                                   str(tmp_path / "out")], tmp_path)
    finally:
        locked.chmod(0o755)
    assert_refused(result, [str(locked / "x.fits"), "ermission"], codes={3})


@pytest.fixture(scope="module")
def irac_raw(tmp_path_factory) -> Path:
    from calpipe.instruments.irac.simulate import simulate

    return simulate(tmp_path_factory.mktemp("irac"), seed=4)[0].raw


@pytest.mark.parametrize(("keyword", "value"), [("GAIN", 0.0), ("GAIN", -3.3), ("RONOISE", -1.0)])
def test_unphysical_irac_gain_is_bad_input_naming_it(cli, irac_raw, tmp_path, keyword, value):
    bad = _edited(irac_raw, tmp_path / irac_raw.name, lambda h: h[0].header.__setitem__(keyword, value))
    result = cli.run("strun", ["irac_bcd", str(bad), "-o", str(tmp_path / "out")], tmp_path)
    assert_refused(result, [bad.name, f"{keyword} = {value}"], codes={3}, output_dir=tmp_path / "out")


@pytest.fixture(scope="module")
def nir_raw(tmp_path_factory) -> Path:
    from calpipe.instruments.nir.simulate import simulate

    return simulate(tmp_path_factory.mktemp("nir"), subarray=64, ngroups=4, seed=5).raw


@pytest.mark.parametrize(("case", "edit", "keyword"), [
    ("substrt", lambda h: h[0].header.__setitem__("SUBSTRT1", 5000), "SUBSTRT1"),
    ("substrt0", lambda h: h[0].header.__setitem__("SUBSTRT2", 0), "SUBSTRT2"),
    ("cropped", lambda h: setattr(h["SCI"], "data", h["SCI"].data[..., :20, :20].copy()), "SUBSIZE1"),
])
def test_input_geometry_is_blamed_on_the_input(cli, nir_raw, tmp_path, case, edit, keyword):
    bad = _edited(nir_raw, tmp_path / f"{case}_uncal.fits", edit)
    result = cli.run("strun", ["nir_detector1", str(bad), "-o", str(tmp_path / "out")], tmp_path)
    assert_refused(result, [bad.name, keyword], codes={3}, output_dir=tmp_path / "out")
    assert ".fits: subarray" not in result.stderr  # not blamed on a reference file


# -- parameters and options: exit 2 --------------------------------------------------------------
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "nan", "inf"])
def test_non_finite_parameters_are_refused_before_any_data(cli, pristine, tmp_path, value):
    result = cli.run("strun", ["generic_image2", str(pristine.image), *_refs(pristine), "-o",
                               str(tmp_path / "out"), "--set", f"flat_field.min_flat={value}"], tmp_path)
    assert_refused(result, ["min_flat", "finite"], codes={2})
    assert not (tmp_path / "out").exists()


def test_a_parameter_that_allows_inf_says_so():
    from pydantic import Field

    from calpipe.core.params import Params, validate

    class Limits(Params):
        ceiling: float = Field(float("inf"), allow_inf_nan=True, description="no ceiling by default")
        floor: float = Field(0.0, description="finite")

    assert validate(Limits, {"ceiling": float("inf")})[1] == []
    assert validate(Limits, {"floor": float("-inf")})[1][0].key == "floor"


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_output_dir_that_is_or_lies_under_a_file_is_usage(cli, pristine, tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = blocker if where == "file" else blocker / "deeper" / "out"
    result = cli.run("strun", ["generic_image2", str(pristine.image), *_refs(pristine), "-o", str(out)],
                     tmp_path)
    assert_refused(result, ["-o", str(blocker)], codes={2})
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize("prog", ["strun", "calpipe"])
@pytest.mark.parametrize("value", ["/etc/passwd", ""])
def test_refdata_that_is_a_file_or_empty_is_usage(cli, pristine, tmp_path, prog, value):
    argv = (["generic_image2", str(pristine.image), "-o", str(tmp_path / "out"), f"--refdata={value}"]
            if prog == "strun" else ["refdata", f"--refdata={value}", "list"])
    result = cli.run(prog, argv, tmp_path)
    assert_refused(result, [value or "--refdata"], codes={2})
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no store built in the working directory


# -- the reference store: exit 4 naming the file ---------------------------------------------------
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    """A store with the demo context only (built once, copied per test)."""
    from calpipe.core.cli.calpipe import main

    root = tmp_path_factory.mktemp("store") / "refdata"
    assert main(["refdata", "--refdata", str(root), "init", "--upto", "1"]) == 0
    return root


@pytest.fixture
def store(demo_store, tmp_path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(demo_store, copy)
    return copy


@pytest.mark.parametrize(("content", "label"), [
    (b"", "empty"), (None, "truncated"), (b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50, "binary"),
    (b"context: [1, 2\n", "bad YAML"), (b"- just\n- a list\n", "wrong shape"),
])
def test_corrupt_context_file_is_a_reference_error_naming_it(cli, pristine, store, tmp_path, content, label):
    context = store / "contexts" / "0001.yaml"
    original = context.read_bytes()
    context.chmod(0o644)
    context.write_bytes(original[: len(original) // 3] if content is None else content)
    result = cli.run("strun", ["generic_image2", str(pristine.image), "--refdata", str(store), "-o",
                               str(tmp_path / "out")], tmp_path)
    assert_refused(result, [str(context), "corrupt reference context"], codes={4}, output_dir=tmp_path / "out")


@pytest.mark.parametrize("content", [b"{not: a list}\n", b"- 1\n- 2\n", b"\xff\xfe\x00", b"[unclosed\n"])
def test_corrupt_staging_list_is_a_reference_error_and_unstage_clears_it(cli, pristine, store, tmp_path,
                                                                         content):
    staging = store / "staging.yaml"
    staging.write_bytes(content)
    result = cli.run("calpipe", ["refdata", "--refdata", str(store), "add", str(pristine.flat)], tmp_path)
    assert_refused(result, [str(staging)], codes={4})
    cleared = cli.run("calpipe", ["refdata", "--refdata", str(store), "unstage"], tmp_path)
    assert cleared.code == 0, cleared
    assert not staging.exists()


def test_a_tampered_reference_is_named_by_its_own_name_and_hash(cli, pristine, store, tmp_path):
    import yaml

    ctx = yaml.safe_load((store / "contexts" / "0001.yaml").read_text())
    flat = next(f for f in ctx["rules"]["demo"]["flat"]["files"])
    path = store / "files" / f"{flat['sha256']}.fits"
    path.chmod(0o644)
    path.write_bytes(corpus.flip_bit(path.read_bytes(), 20000, 2))
    result = cli.run("strun", ["generic_image2", str(pristine.image), "--refdata", str(store), "-o",
                               str(tmp_path / "out")], tmp_path)
    assert_refused(result, [flat["name"], flat["sha256"][:16]], codes={4}, output_dir=tmp_path / "out")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _demo_files(store: Path) -> dict[str, Path]:
    import yaml

    ctx = yaml.safe_load((store / "contexts" / "0001.yaml").read_text())
    return {f["name"]: store / "files" / f"{f['sha256']}.fits"
            for t in ctx["rules"]["demo"].values() for f in t["files"]}


def test_refdata_init_repair_rebuilds_a_deleted_builtin_file_byte_for_byte(cli, store, tmp_path):
    files = _demo_files(store)
    name, path = sorted(files.items())[0]
    sha = path.name.removesuffix(".fits")
    path.unlink()
    plain = cli.run("calpipe", ["refdata", "--refdata", str(store), "init", "--upto", "1"], tmp_path)
    assert "up to date" in plain.stdout and not path.exists()  # init alone does not look at files
    result = cli.run("calpipe", ["refdata", "--refdata", str(store), "init", "--upto", "1", "--repair"],
                     tmp_path)
    assert result.code == 0, result
    assert f"rebuilt 1 missing built-in file(s): {name}" in result.stdout
    assert _sha(path) == sha


def test_a_run_rebuilds_a_deleted_builtin_file_by_itself(cli, pristine, store, tmp_path):
    files = _demo_files(store)
    for path in files.values():
        path.unlink()
    result = cli.run("strun", ["generic_image2", str(pristine.image), "--refdata", str(store), "-o",
                               str(tmp_path / "out")], tmp_path)
    assert result.code == 0, result
    assert [_sha(p) for p in files.values()] == [p.name.removesuffix(".fits") for p in files.values()]
    assert "rebuilt missing built-in file(s)" in result.stderr


# -- refdata affected ------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "content"), [
    ("fits", None), ("empty", b""), ("header_only_wrong", b"a,b,c\n"), ("binary", b"\x00\xff" * 400),
    ("passwd_like", b"root:x:0:0:root:/root:/bin/bash\n"),
])
def test_affected_with_a_non_csv_catalog_is_a_clear_error(cli, pristine, store, tmp_path, case, content):
    catalog = tmp_path / f"{case}.csv"
    catalog.write_bytes(pristine.image.read_bytes() if content is None else content)
    result = cli.run("calpipe", ["refdata", "--refdata", str(store), "affected", "1", "1", "--catalog",
                                 str(catalog)], tmp_path)
    assert_refused(result, [str(catalog), "not a catalog CSV"], codes={2})
    assert "0 of 0" not in result.stderr


def test_affected_output_is_written_atomically(store, tmp_path, monkeypatch, capsys):
    import csv

    from calpipe.core.cli.calpipe import main

    catalog = tmp_path / "cat.csv"
    catalog.write_text("dataset,pipeline,INSTRUME,DATE-OBS,DETECTOR\nobs1,,demo,2026-01-01T00:00:00,DEMO1\n")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "affected.csv"
    out.write_text("previous list\n")
    argv = ["refdata", "--refdata", str(store), "affected", "1", "1", "--catalog", str(catalog), "-o", str(out)]

    class Full:
        def __init__(self, f):
            self.f = f

        def writerows(self, rows):
            self.f.write("dataset,reftype\n")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv, "writer", Full)
    assert main(argv) == 2
    assert f"no space left on {out.parent}" in capsys.readouterr().err
    assert out.read_text() == "previous list\n"
    assert leftovers(out.parent) == []
    monkeypatch.undo()
    assert main(argv) == 0
    assert out.read_text().splitlines() == ["dataset,reftype,old,new"]


# -- a full disk ------------------------------------------------------------------------------------
def _tmpfs_available() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(not _tmpfs_available(), reason="cannot mount a small tmpfs (unshare -rm)")


def _on_small_tmpfs(mount: Path, size: str, prog: str, argv: list[str], setup: str = "") -> subprocess.CompletedProcess:
    """Run ``prog argv`` with ``mount`` a fresh tmpfs of ``size`` bytes; prints leftover temp files after."""
    module = {"strun": "calpipe.core.cli.strun", "calpipe": "calpipe.core.cli.calpipe"}[prog]
    command = " ".join(map(_quote, [sys.executable, "-m", module, *argv]))
    script = (f"mount -t tmpfs -o size={size} tmpfs {_quote(str(mount))} && {setup} "
              f"{command}; echo \"exit=$?\"; find {_quote(str(mount))} -name '*.part'")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=180)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@needs_tmpfs
def test_full_disk_on_output_says_so_and_leaves_nothing(pristine, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run = _on_small_tmpfs(out, "100k", "strun", ["generic_image2", str(pristine.image), *_refs(pristine),
                                                  "-o", str(out)])
    assert "exit=2" in run.stdout, run.stderr
    assert f"no space left on {out}" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.strip().splitlines()[-1] == "exit=2"  # find printed no leftover


@needs_tmpfs
@pytest.mark.parametrize("command", ["init", "add"])
def test_full_disk_on_the_store_leaves_no_part_files(pristine, tmp_path, command):
    store = tmp_path / "store"
    store.mkdir()
    argv = (["refdata", "--refdata", str(store), "init", "--upto", "1"] if command == "init"
            else ["refdata", "--refdata", str(store), "add", str(pristine.flat)])
    run = _on_small_tmpfs(store, "100k", "calpipe", argv)
    assert "exit=4" in run.stdout, run.stderr
    assert f"no space left on {store / 'files'}" in run.stderr
    assert run.stdout.strip().splitlines()[-1] == "exit=4", "temp files left in the store"


def test_a_step_blaming_a_store_file_names_it_by_its_own_name_too(pristine, tmp_path):
    """A reference in the store is a <sha256>.fits: step errors name the file's own name beside it."""
    from calpipe.core.association import Group
    from calpipe.core.io import open_product, write_atomic
    from calpipe.core.pipeline import resolve
    from calpipe.core.provenance import sha256_file
    from calpipe.core.refs import OverrideResolver, RefFile
    from calpipe.core.registry import get_registry
    from calpipe.core.runner import Runner, run_one

    flat = open_product(pristine.flat)
    for plane in ("data", "err", "dq"):
        if getattr(flat, plane, None) is not None:
            setattr(flat, plane, getattr(flat, plane)[:8, :8].copy())
    small = write_atomic(flat, tmp_path / "small.fits")
    stored = small.rename(tmp_path / f"{sha256_file(small)}.fits")

    class Store(OverrideResolver):
        def resolve(self, reftype, product):
            if reftype == "flat":
                return RefFile("flat", stored, overridden=False, name="demo_flat_0042.fits")
            return RefFile(reftype, pristine.mask, overridden=True)

    runner = Runner(resolve("generic_image2", get_registry()), Store(), registry=get_registry())
    outcome = run_one(runner, Group.of(pristine.image), tmp_path / "out", False)
    assert outcome.exit_code == 4  # refused when opened (its content), or by the step: named either way
    assert "demo_flat_0042.fits" in outcome.error
    assert stored.name[:16] in outcome.error
