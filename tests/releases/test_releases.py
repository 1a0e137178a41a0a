"""Released pipelines are immutable: same resolved definition, same output, for ever.

Bit for bit on every platform the lock has an entry for; on any other, equal to the
release's golden copy within lock_release.RTOL (and a warning says so: add the
platform's entry with ``lock_release.py --add-platform``, which accepts only
floating-point noise). A failure here means a release changed. Do not update the lock: publish a new
pipeline version (and bump the versions of the steps whose output changed),
then lock the new release with tests/releases/lock_release.py.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from calpipe.core.fingerprint import platform_fingerprint, platform_id
from calpipe.core.pipeline import resolve
from calpipe.core.registry import get_registry

from .lock_release import GOLDEN, INPUTS, LOCKS, all_arrays, check, load_golden, run

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


class UnlockedPlatformWarning(UserWarning):
    """A release was checked against its golden copy within tolerance, not bit for bit."""


@pytest.mark.parametrize("release", sorted(LOCKED))
def test_release_reproduces_its_golden_output(release, tmp_path: Path):
    lock = LOCKED[release]
    assert "platforms" in lock and "golden" in lock, \
        f"{release} was locked by an older lock_release.py (no per-platform entries or golden copy): " \
        f"if it is not yet published, delete its entry and run python tests/releases/lock_release.py {release}"
    arrays = all_arrays(run(release, INPUTS / lock["input"], tmp_path))
    platform = platform_id(platform_fingerprint())
    how, problems = check(lock, arrays, load_golden(GOLDEN / lock["golden"]["file"]), platform)
    assert not problems, f"{release} ({how}): {'; '.join(problems)}: {FIX}"
    if how != "bit for bit":
        warnings.warn(f"{release}: no lock entry for this platform {platform} {platform_fingerprint()}; "
                      f"output checked against the golden copy within tolerance only", UnlockedPlatformWarning,
                      stacklevel=1)
