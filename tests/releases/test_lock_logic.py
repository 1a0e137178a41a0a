"""The lock's judgement: bit for bit on a locked platform, the golden copy within RTOL elsewhere.

Synthetic outputs (an image and a source list) on several seeds; no pipeline runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from .lock_release import RTOL, check, digests, load_golden, save_golden

SEEDS = [0, 1, 2]


def outputs(seed: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    sci = rng.normal(0.0, 1.0, (16, 16))  # background-subtracted: values near zero
    sci[3, 4] = np.nan
    table = np.zeros(20, [("id", "<i4"), ("flux", "<f8"), ("flags", "<i4")])
    table["id"], table["flux"] = np.arange(1, 21), rng.uniform(1.0, 1e4, 20)
    return {"output": {"SOURCES": table},
            "i2d": {"SCI": sci, "DQ": rng.integers(0, 4, (16, 16)).astype("<u4")}}


def entry(arrays) -> dict:
    return {"outputs": digests(arrays["output"]), "saved": {k: digests(v) for k, v in arrays.items()
                                                             if k != "output"}}


def lock(golden, **platforms) -> dict:
    return {"golden": {"file": "g.npz", "platform": "golden"},
            "platforms": {"golden": entry(golden), **{k: entry(v) for k, v in platforms.items()}}}


def scaled(arrays, factor: float):
    out = {k: {label: a.copy() for label, a in v.items()} for k, v in arrays.items()}
    out["i2d"]["SCI"] *= factor
    out["output"]["SOURCES"]["flux"] *= factor
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_a_foreign_platform_entry_never_stands_in_for_this_one(seed):
    golden = outputs(seed)
    new = scaled(golden, 1 + 10 * RTOL)  # a real change, locked (wrongly or not) for another platform
    how, problems = check(lock(golden, foreign=new), new, golden, platform="here")
    assert how == "within tolerance"
    assert any("SOURCES.flux" in p for p in problems), "the catalogue column is named"
    assert any("i2d SCI" in p for p in problems), "the mosaic SCI is named"


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_passes_on_an_unlocked_platform(seed):
    golden = outputs(seed)
    assert check(lock(golden), scaled(golden, 1 + 0.1 * RTOL), golden, "here") == ("within tolerance", [])


@pytest.mark.parametrize("seed", SEEDS)
def test_on_a_locked_platform_even_noise_fails(seed):
    golden = outputs(seed)
    how, problems = check(lock(golden, here=golden), scaled(golden, 1 + 1e-12), golden, "here")
    assert how == "bit for bit", "comparison is bit for bit"
    assert problems == ["digests differ from the lock's entry for this platform here"], "problem reported"
    assert check(lock(golden, here=golden), golden, golden, "here") == ("bit for bit", [])


@pytest.mark.parametrize("seed", SEEDS)
def test_integers_and_nan_pattern_must_be_exact(seed):
    golden = outputs(seed)
    flags = scaled(golden, 1.0)
    flags["output"]["SOURCES"]["flags"][seed] = 2
    assert check(lock(golden), flags, golden, "here")[1] == ["output SOURCES.flags: 1 integer values differ"]
    nan = scaled(golden, 1.0)
    nan["i2d"]["SCI"][0, seed] = np.nan
    assert check(lock(golden), nan, golden, "here")[1] == [
        "i2d SCI: NaN/inf where the golden copy has other values"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_missing_array_or_product_fails(seed):
    golden = outputs(seed)
    fewer = scaled(golden, 1.0)
    del fewer["i2d"]["DQ"]
    assert check(lock(golden), fewer, golden, "here")[1] == [
        "i2d: arrays ['SCI'] where the golden copy has ['DQ', 'SCI']"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_golden_copy_that_is_not_its_platform_bytes_is_refused(seed):
    golden = outputs(seed)
    tampered = scaled(golden, 1 + 0.1 * RTOL)
    problems = check(lock(golden), tampered, tampered, "here")[1]
    assert problems == ["golden copy g.npz does not hold the bytes of platform golden it was taken from"]


@pytest.mark.parametrize("seed", SEEDS)
def test_golden_copy_round_trips_bit_for_bit(seed, tmp_path):
    golden = outputs(seed)
    save_golden(tmp_path / "g.npz", golden)
    back = load_golden(tmp_path / "g.npz")
    assert {k: digests(v) for k, v in back.items()} == {k: digests(v) for k, v in golden.items()}
