"""The verified-hash record: a store file is read once while unchanged, and every change is caught."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import pytest

from calpipe.refdata import verified
from calpipe.refdata.verified import VerifiedHashes

SEEDS = (0, 1, 2)


@pytest.fixture
def counted(monkeypatch):
    """Counts how often a file is actually read and hashed."""
    calls = []
    real = verified.sha256_file

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(verified, "sha256_file", counting)
    return calls


def _stored(root, seed: int, size: int = 4096):
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    path = files / f"{hashlib.sha256(data).hexdigest()}.fits"
    path.write_bytes(data)
    return path


def _settled(monkeypatch, path, racy_s: float = 0.05) -> None:
    """Let the file's change times fall out of the racy window (shortened for the test)."""
    monkeypatch.setattr(verified, "RACY_S", racy_s)
    time.sleep(2 * racy_s)


@pytest.mark.parametrize("seed", SEEDS)
def test_unchanged_file_is_hashed_once_across_processes(tmp_path, monkeypatch, counted, seed):
    path = _stored(tmp_path, seed)
    _settled(monkeypatch, path)
    assert VerifiedHashes(tmp_path).sha256(path) == path.stem
    assert VerifiedHashes(tmp_path).sha256(path) == path.stem  # a new process: from the record
    assert len(counted) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_a_write_after_verification_is_detected(tmp_path, monkeypatch, seed):
    path = _stored(tmp_path, seed)
    _settled(monkeypatch, path)
    hashes = VerifiedHashes(tmp_path)
    assert hashes.sha256(path) == path.stem
    data = bytearray(path.read_bytes())
    data[seed * 100] ^= 0xFF  # same size
    path.write_bytes(bytes(data))
    assert hashes.sha256(path) == hashlib.sha256(bytes(data)).hexdigest()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_replaced_file_with_the_old_times_is_rehashed(tmp_path, monkeypatch, counted, seed):
    path = _stored(tmp_path, seed)
    _settled(monkeypatch, path)
    assert VerifiedHashes(tmp_path).sha256(path) == path.stem
    st = path.stat()
    other = tmp_path / "other"
    other.write_bytes(bytes(reversed(path.read_bytes())))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # new inode, same size and mtime
    assert VerifiedHashes(tmp_path).sha256(path) != path.stem
    assert len(counted) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_just_written_file_is_not_recorded(tmp_path, counted, seed):
    path = _stored(tmp_path, seed)  # changed within RACY_S (2 s) of hashing: racy
    assert VerifiedHashes(tmp_path).sha256(path) == path.stem
    assert VerifiedHashes(tmp_path).sha256(path) == path.stem
    assert len(counted) == 2
    assert not (tmp_path / "verified.json").exists()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_tampered_file_is_never_recorded(tmp_path, monkeypatch, counted, seed):
    path = _stored(tmp_path, seed)
    path.write_bytes(path.read_bytes()[::-1])  # no longer matches its name
    _settled(monkeypatch, path)
    for _ in range(2):
        assert VerifiedHashes(tmp_path).sha256(path) != path.stem
    assert len(counted) == 2


def test_an_unwritable_record_only_costs_hashing(tmp_path, monkeypatch, counted):
    (tmp_path / "verified.json").mkdir()  # can be neither read nor replaced
    path = _stored(tmp_path, 0)
    _settled(monkeypatch, path)
    for _ in range(2):
        assert VerifiedHashes(tmp_path).sha256(path) == path.stem
    assert len(counted) == 2


def test_only_content_addressed_store_files_are_covered(tmp_path):
    hashes = VerifiedHashes(tmp_path)
    path = _stored(tmp_path, 0)
    assert hashes.covers(path)
    assert not hashes.covers(tmp_path / "flat.fits")
    assert not hashes.covers(tmp_path / "files" / "flat.fits")
