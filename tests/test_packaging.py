"""The wheel ships what an installed calpipe needs at run time: schemas and pipelines."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_schemas_pipelines_and_entry_points(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("calpipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    schemas = {Path(n).name for n in names if n.startswith("calpipe/core/models/schemas/")}
    assert {"core-1.0.0.yaml", "image-1.0.0.yaml", "raw-1.0.0.yaml", "mosaic-1.0.0.yaml",
            "catalog-1.0.0.yaml", "reference-1.0.0.yaml"} <= schemas
    assert "calpipe/pipelines/generic_image2-1.0.0.yaml" in names
    for release in ("irac/pipelines/irac_bcd-1.1.0.yaml", "mips/pipelines/mips24_bcd-1.0.0.yaml",
                    "nir/pipelines/nir_detector1-1.0.0.yaml"):  # instruments ship their own pipelines
        assert f"calpipe/instruments/{release}" in names, release
    assert "calpipe/level0/packets.yaml" in names
    assert "calpipe/instruments/irac/schemas/bcd-1.0.0.yaml" in names
    assert {"calpipe/archive/migrations/env.py", "calpipe/archive/migrations/script.py.mako",
            "calpipe/archive/migrations/versions/0001_catalog.py",
            "calpipe/archive/migrations/versions/0002_exposure_claims.py"} <= set(names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[calpipe]" in text
    assert "[asdf.resource_mappings]" in text
    assert "strun = calpipe.core.cli.strun:main" in text
