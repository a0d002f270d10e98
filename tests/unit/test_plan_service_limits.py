"""A service's limits (max_body_mb, max_connections): bodywork.yaml -> plan -> runner spec."""

from __future__ import annotations

import pytest

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Placement, plan_pipeline, runner_spec
from bodywork_runner.spec import ServiceSettings, Source, StageSpec
from tests.conftest import ProjectWriter

SOURCE = Source(local_path="/project")

CONFIG = """\
version: "2.0"
pipeline:
  name: limits
stages:
  serve:
    path: serve.ipynb
    service: {port: 8080%s}
"""


def _service(project: ProjectWriter, extra: str = "") -> ServiceSettings:
    plan = plan_pipeline(load_pipeline(project(CONFIG % extra, "serve.ipynb")), SOURCE)
    spec = runner_spec(plan, plan.stages["serve"], Placement(run_id="r", attempt=1))
    assert spec.service is not None
    # the spec is JSON between planner and runner: the limits survive the trip
    assert StageSpec.from_json(spec.to_json()).service == spec.service
    return spec.service


def test_the_limits_default_to_10_mb_and_100_connections(project: ProjectWriter) -> None:
    service = _service(project)
    assert (service.max_body_bytes, service.max_connections) == (10_000_000, 100)
    assert service.header_timeout_seconds == 10.0


def test_the_limits_are_carried_to_the_runner(project: ProjectWriter) -> None:
    service = _service(project, ", max_body_mb: 0.5, max_connections: 20")
    assert (service.max_body_bytes, service.max_connections) == (500_000, 20)
    assert _service(project, ", max_body_mb: 64").max_body_bytes == 64_000_000


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        (", max_body_mb: 0", "stages.serve.service.max_body_mb", "must be more than 0"),
        (", max_body_mb: big", "stages.serve.service.max_body_mb", "expected a number"),
        (", max_connections: 0", "stages.serve.service.max_connections", "at least 1"),
    ],
)
def test_a_bad_limit_is_a_config_problem(
    project: ProjectWriter, extra: str, path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(project(CONFIG % extra, "serve.ipynb"))
    [problem] = caught.value.problems
    assert problem.path == path
    assert words in problem.message
