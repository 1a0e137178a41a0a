"""A third-party plugin, installed as a real distribution, works end to end.

tests/plugins/calpipe_example is built and installed with pip into a temporary
directory, and strun/calpipe run in subprocesses with that directory on
PYTHONPATH: discovery goes through the real ``calpipe`` entry-point group and
the test environment itself is never changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core import provenance
from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.dqflags import DQ

PLUGIN_SRC = Path(__file__).resolve().parents[1] / "plugins" / "calpipe_example"
TIMEOUT = 300


def _pip_install(src: Path, target: Path) -> None:
    """Build and install a distribution offline into ``target`` (not into the test environment)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"pip could not install {src} (building a wheel without build isolation needs "
        f"setuptools>=70.1, or the wheel package, in the test environment):\n{proc.stdout}\n{proc.stderr}"
    )


def _run(cli: str, args: list[str], site: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    """Run `strun` or `calpipe` in a fresh interpreter that sees the plugin dirs in ``site``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, site), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", f"calpipe.core.cli.{cli}", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """calpipe-example installed with pip into its own directory."""
    root = tmp_path_factory.mktemp("calpipe_example")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = shutil.copytree(PLUGIN_SRC, root / "src",
                          ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _pip_install(src, root / "site")
    return root / "site"


def _strun(args: list, site: list[Path], tmp_path: Path) -> Path:
    """Run strun, expect success, return the product it wrote."""
    proc = _run("strun", args, site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().splitlines()[-1])
    assert out.is_file(), proc.stdout
    return out


def _step_record(record: dict, step_id: str) -> dict:
    (step,) = [s for s in record["steps"] if s["id"] == step_id]
    return step


def _pinned_pipeline(tmp_path: Path, version: str) -> Path:
    """A user pipeline that imports example_scale and pins its scale_offset step."""
    path = tmp_path / f"pinned_{version.replace('.', '_')}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: pinned_scale
        version: 1.0.0
        input: 2
        output: 2
        imports:
          - pipeline: example_scale
        steps:
          - id: scale_offset
            version: {version}
        """))
    return path


def test_calpipe_list_shows_the_plugin_steps_and_pipeline(example_site, tmp_path):
    proc = _run("calpipe", ["list"], [example_site], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\s+scale_offset\s+1\.0\.0, 1\.1\.0\s", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\s+example_scale\s+1\.0\.0\s", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\s+generic_image2\s", proc.stdout, re.M), proc.stdout  # built-ins still there

    without = _run("calpipe", ["list"], [], tmp_path)  # the same interpreter without the plugin dir
    assert without.returncode == 0, without.stderr
    assert "scale_offset" not in without.stdout
    assert "example_scale" not in without.stdout


def test_example_scale_applies_the_substituted_gain_and_records_provenance(
        example_site, demo_session, tmp_path):
    out = _strun(["example_scale", demo_session.image, "--ref", f"mask={demo_session.mask}",
                  "-o", tmp_path / "out"], [example_site], tmp_path)
    assert out.name == "demo_image_scaled.fits"

    with fits.open(demo_session.image) as inp, fits.open(out) as res:
        sci_in, err_in = inp["SCI"].data, inp["ERR"].data
        sci, err, dq = res["SCI"].data, res["ERR"].data, res["DQ"].data
        header = res[0].header
    mask = fits.getdata(demo_session.mask, "DQ")
    bad = (dq & DQ.DO_NOT_USE) != 0
    np.testing.assert_array_equal(dq, mask)  # dq_init ran (the demo image is all finite)
    assert 0 < bad.sum() < bad.size
    # parameters: {gain: 2.0} reached scale_offset through scale: ${gain}
    np.testing.assert_array_equal(sci[~bad], (sci_in * np.float32(2.0) + np.float32(0.0))[~bad])
    np.testing.assert_array_equal(err[~bad], (err_in * np.float32(2.0))[~bad])
    # the newest version (1.1.0) ran: DO_NOT_USE pixels are NaN
    assert np.isnan(sci[bad]).all()
    assert np.isnan(err[bad]).all()

    assert header["S_DQINIT"] == "COMPLETE"
    assert header["S_SCALEO"] == "COMPLETE"
    assert header.comments["S_SCALEO"] == "scale_offset 1.1.0"

    record = provenance.read(out)
    assert record["pipeline"]["name"] == "example_scale"
    assert record["pipeline"]["version"] == "1.0.0"
    step = _step_record(record, "scale_offset")
    assert (step["name"], step["version"], step["status"]) == ("scale_offset", "1.1.0", "COMPLETE")
    assert step["params"] == {"scale": 2.0, "offset": 0.0}
    assert record["software"]["plugins"]["calpipe-example"] == "0.1.0"
    assert record["software"]["plugins"]["calpipe"] == "0.1.0"


def test_command_line_overrides_the_pipeline_yaml(example_site, demo_session, tmp_path):
    # An input with a Poisson variance, to check that variances scale by scale².
    image = open_product(demo_session.image)
    image.var_poisson = (image.err ** 2).astype(np.float32)
    image = write_atomic(image, tmp_path / "in" / "with_var.fits")

    out = _strun(["example_scale", image, "--ref", f"mask={demo_session.mask}", "-o", tmp_path / "out",
                  "--steps.scale_offset.scale=3", "--steps.scale_offset.offset", "-1.5"],
                 [example_site], tmp_path)

    with fits.open(image) as inp, fits.open(out) as res:
        sci_in, err_in, var_in = inp["SCI"].data, inp["ERR"].data, inp["VAR_POISSON"].data
        sci, err, var, dq = res["SCI"].data, res["ERR"].data, res["VAR_POISSON"].data, res["DQ"].data
    good = (dq & DQ.DO_NOT_USE) == 0
    np.testing.assert_array_equal(sci[good], (sci_in * np.float32(3.0) + np.float32(-1.5))[good])
    np.testing.assert_array_equal(err[good], (err_in * np.float32(3.0))[good])
    np.testing.assert_array_equal(var, var_in * np.float32(3.0) ** 2)

    step = _step_record(provenance.read(out), "scale_offset")
    assert step["params"] == {"scale": 3.0, "offset": -1.5}


def test_pinned_versions_coexist_and_give_their_documented_outputs(example_site, demo_session, tmp_path):
    outputs = {}
    for version in ("1.0.0", "1.1.0"):
        outputs[version] = _strun([_pinned_pipeline(tmp_path, version), demo_session.image,
                                   "--ref", f"mask={demo_session.mask}", "-o", tmp_path / version],
                                  [example_site], tmp_path)
        step = _step_record(provenance.read(outputs[version]), "scale_offset")
        assert step["version"] == version
        assert step["params"]["scale"] == 2.0  # the imported pipeline's parameters came along
        assert fits.getheader(outputs[version], 0).comments["S_SCALEO"] == f"scale_offset {version}"

    expected = fits.getdata(demo_session.image, "SCI") * np.float32(2.0) + np.float32(0.0)
    old, new = (fits.getdata(outputs[v], "SCI") for v in ("1.0.0", "1.1.0"))
    bad = (fits.getdata(outputs["1.1.0"], "DQ") & DQ.DO_NOT_USE) != 0
    assert bad.any()
    # 1.0.0 scales every pixel; 1.1.0 scales the same and blanks DO_NOT_USE pixels with NaN.
    np.testing.assert_array_equal(old, expected)
    np.testing.assert_array_equal(new[~bad], expected[~bad])
    assert np.isnan(new[bad]).all()


def test_same_step_version_from_two_plugins_is_an_error_naming_both(
        example_site, demo_session, tmp_path):
    rival = tmp_path / "rival_src"
    rival.mkdir()
    (rival / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "calpipe-rival"
        version = "0.1.0"

        [project.entry-points.calpipe]
        rival = "calpipe_rival"

        [tool.setuptools]
        py-modules = ["calpipe_rival"]
        """))
    (rival / "calpipe_rival.py").write_text(textwrap.dedent('''\
        from calpipe.core.hookspecs import hookimpl
        from calpipe.core.step import Step


        class RivalScaleOffset(Step):
            """Another plugin's scale_offset 1.0.0."""

            name = "scale_offset"
            version = "1.0.0"


        @hookimpl
        def calpipe_steps():
            return [RivalScaleOffset]
        '''))
    _pip_install(rival, tmp_path / "rival_site")
    site = [example_site, tmp_path / "rival_site"]

    proc = _run("calpipe", ["list"], site, tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "step 'scale_offset' version 1.0.0 is registered twice" in proc.stderr
    assert "plugin 'example' (calpipe-example 0.1.0)" in proc.stderr
    assert "calpipe_example.scale_offset.step.ScaleOffsetStep_1_0_0" in proc.stderr
    assert "plugin 'rival' (calpipe-rival 0.1.0)" in proc.stderr
    assert "calpipe_rival.RivalScaleOffset" in proc.stderr
    assert "Traceback" not in proc.stderr

    # strun refuses too, and writes nothing: an ambiguous install never makes a product.
    proc = _run("strun", ["example_scale", demo_session.image, "--ref", f"mask={demo_session.mask}",
                          "-o", tmp_path / "out"], site, tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "is registered twice" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_reproduce_counts_only_the_plugins_the_run_used(example_site, demo_session, tmp_path):
    refs = ["--ref", f"mask={demo_session.mask}", "--ref", f"flat={demo_session.flat}"]
    search = ["--search", demo_session.image.parent, "--search", demo_session.mask.parent]
    plain = _strun(["generic_image2", demo_session.image, *refs, "-o", tmp_path / "plain"], [], tmp_path)
    # the plugin installed since the product was made, never used by it: not drift
    proc = _run("calpipe", ["reproduce", plain, *search], [example_site], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "IDENTICAL" in proc.stdout
    assert "drift" not in proc.stdout + proc.stderr

    scaled = _strun(["example_scale", demo_session.image, "--ref", f"mask={demo_session.mask}",
                     "-o", tmp_path / "scaled"], [example_site], tmp_path)
    model = open_product(scaled)
    model.meta.provenance.instance["software"]["plugins"]["calpipe-example"] = "0.0.1"
    older = write_atomic(model, tmp_path / "older" / scaled.name)
    # a plugin whose step the run used, at another version: drift
    proc = _run("calpipe", ["reproduce", older, *search], [example_site], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "plugin calpipe-example 0.0.1 -> 0.1.0" in proc.stderr


@pytest.mark.parametrize("cli", ["calpipe", "strun"])
def test_version_names_calpipe_and_every_installed_plugin(cli, example_site, tmp_path):
    from calpipe import __version__

    proc = _run(cli, ["--version"], [example_site], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"calpipe {__version__}"
    assert "  plugin calpipe-example 0.1.0 (example)" in lines
    assert re.search(r"built-in plugins: .*\bnir\b", proc.stdout)
    without = _run(cli, ["--version"], [], tmp_path)
    assert without.returncode == 0
    assert "calpipe-example" not in without.stdout
