"""Released pipelines are immutable: same resolved definition, same output bytes, for ever.

A failure here means a release changed. Do not update the lock: publish a new
pipeline version (and bump the versions of the steps whose output changed),
then lock the new release with tests/releases/lock_release.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry

from .lock_release import INPUTS, LOCKS, array_digests, run, saved_digests

LOCKED = json.loads(LOCKS.read_text())
FIX = "released pipelines are immutable: publish a new version instead (see README, 'Versions')"


def test_every_registered_release_is_locked():
    reg = get_registry()
    releases = {f"{n}@{v}" for n in reg.pipeline_names() for v in reg.pipeline_versions(n)}
    missing = sorted(releases - set(LOCKED))
    assert not missing, f"unlocked releases {missing}: run python tests/releases/lock_release.py {' '.join(missing)}"


@pytest.mark.parametrize("release", sorted(LOCKED))
def test_release_resolves_to_its_frozen_definition(release):
    assert resolve(release, get_registry()).sha256() == LOCKED[release]["definition_sha256"], \
        f"{release} no longer resolves to the same steps, versions and parameters: {FIX}"


@pytest.mark.parametrize("release", sorted(LOCKED))
def test_release_reproduces_its_golden_output_bit_for_bit(release, tmp_path: Path):
    product = run(release, INPUTS / LOCKED[release]["input"], tmp_path)
    assert array_digests(product) == LOCKED[release]["outputs"], \
        f"{release} no longer gives the same SCI/ERR/DQ bytes: {FIX}"
    assert saved_digests(product) == LOCKED[release].get("saved", {}), \
        f"{release} no longer saves the same products beside its output: {FIX}"
