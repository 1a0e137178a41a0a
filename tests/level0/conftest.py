"""Raw products of two shapes, and a clean downlink of both, shared read-only by the level0 tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from calpipe.core.io import write_atomic
from calpipe.core.models.products import RawModel
from calpipe.instruments.nir.simulate import simulate
from calpipe.level0.downlink import simulate_downlink

NIR_TAG = "00001:001:00001"
FRAME_TAG = "00001:002:00001"  # same program, another visit


@dataclass(frozen=True)
class Downlink:
    files: list[Path]  # in stream order
    truth: dict
    raws: dict[str, Path]  # tag -> raw product


def make_frame(path: Path, model_cls=RawModel, program="00001", visit="002", exposure="00001",
               shape=(24, 20), date_obs="2026-01-01T01:00:00") -> Path:
    """A 2-D uint16 frame with the extreme values in it, and a few keywords of every kind."""
    data = np.random.default_rng(5).integers(0, 65536, shape, dtype=np.uint16)
    data.flat[:2] = (0, 65535)
    model = model_cls(data=data)
    meta = model.meta
    meta.instrument.name, meta.instrument.detector = "TINY", "T1"
    meta.observation.program, meta.observation.visit, meta.observation.exposure = program, visit, exposure
    meta.observation.date_obs = date_obs
    meta.exposure.exposure_time = 3.5
    meta.bunit_data = "DN"
    model.add_history_entry("made by the level0 tests")
    return write_atomic(model, path)


@pytest.fixture(scope="session")
def raws(tmp_path_factory) -> dict[str, Path]:
    """tag -> raw product: nir ramps (1, 5, 32, 32) and a hand-made (24, 20) frame."""
    tmp = tmp_path_factory.mktemp("level0_raw")
    nir = simulate(tmp / "nir", subarray=32, ngroups=5, seed=7).raw
    return {NIR_TAG: nir, FRAME_TAG: make_frame(tmp / "frame" / "tiny_00001_002_00001_uncal.fits")}


def downlink(raws: dict[str, Path], out: Path, **options) -> Downlink:
    files, truth = simulate_downlink(list(raws.values()), out, **options)
    return Downlink(files, json.loads(truth.read_text()), raws)


@pytest.fixture(scope="session")
def clean(raws, tmp_path_factory) -> Downlink:
    """Both exposures in 3 files delivered out of order, 1 KiB segments, no faults."""
    return downlink(raws, tmp_path_factory.mktemp("level0_clean"), files=3, shuffle=True, segment_bytes=1024)
