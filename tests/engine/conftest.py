"""Deploying real projects on the local backend: real runners, kernels, supervisors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.helpers import Bodywork


@pytest.fixture
def bw(tmp_path: Path) -> Iterator[Bodywork]:
    runner = Bodywork(tmp_path / "state")
    yield runner
    # stop every supervisor this test started: nothing may outlive the test
    store = runner.store()
    for deployment in store.deployments():
        runner("delete", "deployment", deployment.name)
