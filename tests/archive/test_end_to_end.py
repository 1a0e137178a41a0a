"""End to end on the simulators: NIR, IRAC and MIPS 24 um downlinks with faults, split across files,
ingested, searched, retrieved in all three modes, verified, and an old version reproduced IDENTICAL."""

from __future__ import annotations

import json

import pytest

from calpipe.archive.ingest import ingest
from calpipe.archive.retrieve import get
from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.io import open_product
from calpipe.level0.downlink import simulate_downlink

from .conftest import new_archive


@pytest.fixture(scope="module")
def downlinks(tmp_path_factory):
    from calpipe.instruments.irac.simulate import simulate as irac
    from calpipe.instruments.mips.simulate import simulate as mips
    from calpipe.instruments.nir.simulate import simulate as nir

    root = tmp_path_factory.mktemp("e2e")
    raws = [nir(root / "nir", subarray=32, ngroups=5, seed=11).raw,
            irac(root / "irac", channel=1, frame_time=12.0, seed=12, cosmic_rays=False)[0].raw,
            mips(root / "mips", 24, 1, seed=13)[0].raw]
    day1, truth1 = simulate_downlink(raws[:2], root / "day1", files=3, seed=1, duplicate=2, shuffle=True)
    day2, _ = simulate_downlink(raws[2:], root / "day2", files=2, seed=2)
    return raws, day1, day2, json.loads(truth1.read_text())


def test_downlinks_to_search_get_verify_and_reproduce(tmp_path, downlinks, capsys):
    raws, day1, day2, truth1 = downlinks
    assert truth1["faults"]["duplicated"]  # the fault is there, and must not matter
    archive = new_archive(tmp_path / "a", None)
    first = ingest(archive, day1)
    assert first.exit_code == 0, first.lines
    second = ingest(archive, [*day2, *day1])  # day 1 again: changes nothing
    assert second.exit_code == 0, second.lines
    assert len(first.registered) == 5 and len(second.registered) == 2  # NIR raw+rate+cal, IRAC raw+bcd; MIPS
    base = ["--archive", str(archive.root)]
    assert calpipe(["archive", "search", "--level", "2", "--format", "json", *base]) == 0
    rows = json.loads(capsys.readouterr().out)
    made = {(r["instrument_name"], r["pipeline"]) for r in rows}
    assert made == {("NIR", "nir_detector1"), ("NIR", "nir_image2"), ("IRAC", "irac_bcd"), ("MIPS", "mips24_bcd")}
    obs = {raw.name.rsplit("_", 1)[0]: raw for raw in raws}
    for obs_id, raw in obs.items():
        _, row, _ = get(archive, obs_id, tmp_path / "got")
        assert row.state == "sandbox" and row.calib_level == 2
        sent = open_product(get(archive, obs_id, tmp_path / "raw", level=1)[0])
        assert sent.data.tobytes() == open_product(raw).data.tobytes()
    nir_obs = next(o for o in obs if o.startswith("nir"))
    irac_obs = next(o for o in obs if o.startswith("SPITZER_I"))
    latest, newest, _ = get(archive, nir_obs, tmp_path / "latest", mode="latest")
    assert newest.pipeline == "nir_image2" and latest.is_file()
    old, pinned, _ = get(archive, irac_obs, tmp_path / "pinned", mode="pinned", pinned="irac_bcd@1.0.0")
    assert pinned.pipeline_version == "1.0.0"
    assert calpipe(["archive", "verify", *base]) == 0
    assert "0 differences" in capsys.readouterr().out
    raw_dir = tmp_path / "raw"
    assert calpipe(["reproduce", str(old), "--search", str(raw_dir), "-o", str(tmp_path / "again")]) == 0
    assert "IDENTICAL" in capsys.readouterr().out
