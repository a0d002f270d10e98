"""The one default max_parallel (engine/parallelism.py) and the bounds every surface keeps."""

from __future__ import annotations

import inspect

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from bodywork_jupyter.engine.engine import Engine
from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    default_max_parallel,
)
from bodywork_jupyter.server.bodies import DeployBody
from bodywork_jupyter.targets import RunOptions


@pytest.mark.parametrize(("cpus", "expected"), [(1, 4), (2, 8), (3, 12), (8, 32), (64, 32)])
def test_four_stages_a_core_at_least_4_at_most_32(cpus: int, expected: int) -> None:
    assert default_max_parallel(cpus) == expected


def test_every_surface_has_the_one_default_and_the_same_bounds() -> None:
    assert 4 <= DEFAULT_MAX_PARALLEL <= 32
    assert RunOptions().max_parallel == DEFAULT_MAX_PARALLEL
    assert DeployBody(path="demo").max_parallel == DEFAULT_MAX_PARALLEL
    assert RunOptions(max_parallel=MAX_MAX_PARALLEL).max_parallel == MAX_MAX_PARALLEL
    for wrong in (0, MAX_MAX_PARALLEL + 1):
        with pytest.raises(ValidationError):
            RunOptions(max_parallel=wrong)
        with pytest.raises(ValidationError):
            DeployBody(path="demo", max_parallel=wrong)
    default = inspect.signature(Engine.__init__).parameters["max_parallel"].default
    assert default == DEFAULT_MAX_PARALLEL


def test_the_cli_shows_the_default_and_refuses_what_is_out_of_bounds() -> None:
    from bodywork_jupyter.cli import main

    runner = CliRunner()
    shown = runner.invoke(main.cli, ["deploy", "--help"], terminal_width=200)
    assert f"[default: {DEFAULT_MAX_PARALLEL}; 1<=x<={MAX_MAX_PARALLEL}]" in shown.output
    refused = runner.invoke(main.cli, ["deploy", ".", "--max-parallel", "65"])
    assert refused.exit_code == 2 and "65" in refused.output
