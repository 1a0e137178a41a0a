"""Fixtures of the robustness suite: a bounded CLI worker and pristine inputs to attack.

Use `harness.run_cli` for a case that needs its own process (kills, -j workers,
process-wide state) and the `cli` fixture for the rest: it runs each command
line in one long-lived worker under the same memory bound and timeout, then
`harness.assert_refused` checks the invariants.
"""

from __future__ import annotations

import pytest

from calpipe.instruments.demo.simulate import DemoFiles, make_demo_data

from .harness import CliWorker


@pytest.fixture(scope="session")
def cli(refdata_store):
    """``cli.run(prog, argv, cwd)`` in a bounded worker process shared by the whole session."""
    worker = CliWorker(env={"CALPIPE_REFDATA": str(refdata_store)})
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> DemoFiles:
    """Valid demo inputs, read-only for every test (copy before mutating)."""
    return make_demo_data(tmp_path_factory.mktemp("pristine"), seed=3)
