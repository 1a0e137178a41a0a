"""Shared fixtures: demo products with known truth, written fresh for each test."""

from __future__ import annotations

import pytest

from calpipe.instruments.demo.simulate import DemoFiles, make_demo_data


@pytest.fixture(autouse=True, scope="session")
def refdata_store(tmp_path_factory):
    """Every test uses a private reference store, never the user's."""
    root = tmp_path_factory.mktemp("refdata")
    patch = pytest.MonkeyPatch()
    patch.setenv("CALPIPE_REFDATA", str(root))
    yield root
    patch.undo()


@pytest.fixture(scope="session")
def demo_session(tmp_path_factory) -> DemoFiles:
    """Demo inputs shared read-only by many tests (tests must never write into them)."""
    return make_demo_data(tmp_path_factory.mktemp("demo"), seed=1)


@pytest.fixture
def demo(tmp_path) -> DemoFiles:
    """Demo inputs private to one test."""
    return make_demo_data(tmp_path / "demo", seed=1)


@pytest.fixture
def ref_args(demo_session: DemoFiles) -> list[str]:
    return ["--ref", f"mask={demo_session.mask}", "--ref", f"flat={demo_session.flat}"]

