"""The content-addressed store: atomic, read-only, hash-checked on read, never overwritten."""

from __future__ import annotations

import hashlib
import os
import stat

import numpy as np
import pytest

from calpipe.archive.files import Store, StoreError
from calpipe.core.errors import UsageError


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_file_is_stored_under_its_sha256_read_only_and_once(tmp_path, seed):
    store = Store.create(tmp_path / "a")
    payload = np.random.default_rng(seed).bytes(100_000 + seed)
    source = tmp_path / "x.bin"
    source.write_bytes(payload)
    sha = store.put(source)
    assert sha == hashlib.sha256(payload).hexdigest()
    path = store.check(sha)
    assert path.read_bytes() == payload
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.put(source) == sha  # again: a no-op
    assert store.addresses() == {sha}
    assert list(store.tmp.iterdir()) == []


def test_damaged_bytes_are_exit_4_naming_the_file(tmp_path):
    store = Store.create(tmp_path / "a")
    source = tmp_path / "x.bin"
    source.write_bytes(b"telemetry" * 1000)
    sha = store.put(source)
    path = store.path(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"telemetrx" * 1000)
    with pytest.raises(StoreError) as damaged:
        store.check(sha)
    assert damaged.value.exit_code == 4
    assert str(path) in str(damaged.value)
    with pytest.raises(StoreError, match="no longer match"):
        store.copy_out(sha, tmp_path / "out" / "x.bin")
    assert not (tmp_path / "out" / "x.bin").exists()


def test_a_missing_file_is_exit_4_too(tmp_path):
    store = Store.create(tmp_path / "a")
    with pytest.raises(StoreError, match="missing"):
        store.check("ab" * 32)


def test_a_directory_that_is_not_an_archive_is_named(tmp_path):
    with pytest.raises(UsageError, match="not an archive"):
        Store.open(tmp_path)
    Store.create(tmp_path / "a")
    with pytest.raises(UsageError, match="already an archive"):
        Store.create(tmp_path / "a")
