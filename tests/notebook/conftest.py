"""The notebook tier: %bodywork magics in real kernels, and the widgets on real runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import bodywork_jupyter


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A run store of its own; every deployment made in it is deleted afterwards."""
    folder = tmp_path / "state"
    yield folder
    if folder.exists():
        for deployment in bodywork_jupyter.deployments(state_dir=folder):
            bodywork_jupyter.delete(deployment.name, state_dir=folder)
