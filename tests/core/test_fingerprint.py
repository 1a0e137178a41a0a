"""The platform fingerprint: recorded in every product, and it follows what decides the low bits."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata

import pytest

from calpipe.core import provenance
from calpipe.core.cli.strun import main as strun
from calpipe.core.fingerprint import differences, platform_fingerprint, platform_id

PRINT = "import json; from calpipe.core.fingerprint import platform_fingerprint as f; print(json.dumps(f()))"


def fingerprint_with(**env: str) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", PRINT], env={**os.environ, **env}, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_every_product_records_the_platform_and_numerical_libraries(demo, ref_args, tmp_path):
    assert strun(["generic_image2", str(demo.image), *ref_args, "-o", str(tmp_path), "-q"]) == 0
    software = provenance.read(tmp_path / "demo_image_cal.fits")["software"]
    assert software["platform"] == platform_fingerprint()
    for lib in ("scipy", "photutils", "drizzle", "numpy", "numba"):
        assert software[lib] == metadata.version(lib), lib


def test_provenance_text_shows_the_platform(demo, ref_args, tmp_path):
    assert strun(["generic_image2", str(demo.image), *ref_args, "-o", str(tmp_path), "-q"]) == 0
    text = provenance.format_text(provenance.read(tmp_path / "demo_image_cal.fits"))
    platform_line = next(line for line in text.splitlines() if line.startswith("platform: "))
    assert f"numba_cpu {platform_fingerprint()['numba_cpu']}" in platform_line


def test_fingerprint_follows_the_numba_target_cpu():
    assert fingerprint_with(NUMBA_CPU_NAME="generic")["numba_cpu"] == "generic"


@pytest.mark.parametrize("core", ["Haswell", "Sandybridge"])
def test_fingerprint_follows_the_running_openblas_kernels(core):
    if not any(b.startswith("openblas") for b in platform_fingerprint()["blas"]) or \
            platform.machine() != "x86_64":
        pytest.skip("numpy does not run OpenBLAS's x86-64 kernels here")
    assert fingerprint_with(OPENBLAS_CORETYPE=core)["blas"] == [f"openblas {core}"]


def test_fingerprint_follows_numpy_dispatch_that_was_turned_off():
    enabled = platform_fingerprint()["numpy_simd"]
    import numpy as np

    baseline = np.show_config(mode="dicts")["SIMD Extensions"]["baseline"]
    dispatched = [t for t in enabled if t not in baseline]
    if not dispatched:
        pytest.skip("this CPU runs numpy's baseline only")
    off = dispatched[-1]
    assert fingerprint_with(NPY_DISABLE_CPU_FEATURES=off)["numpy_simd"] == [t for t in enabled if t != off]


def test_platform_id_is_stable_and_sees_every_field():
    here = platform_fingerprint()
    assert platform_id(dict(reversed(list(here.items())))) == platform_id(here)
    ids = {platform_id({**here, k: "other"}) for k in here}
    assert len(ids) == len(here), "one id per platform"
    assert platform_id(here) not in ids, "this platform's id is new"


def test_differences_name_the_changed_field():
    here = platform_fingerprint()
    assert differences(here, here) == []
    assert differences({**here, "blas": ["openblas Haswell"]}, {**here, "blas": ["openblas SkylakeX"]}) == \
        ["blas openblas Haswell -> openblas SkylakeX"]
