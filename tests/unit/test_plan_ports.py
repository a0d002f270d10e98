"""Services on one machine (pure): one port per service, and each service's URL variable."""

from __future__ import annotations

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Placement, Plan, plan_pipeline, runner_spec
from bodywork_jupyter.plan.ports import SharedPort, check_one_machine, shared_ports
from bodywork_jupyter.plan.service_urls import service_url_env, url_variable
from bodywork_runner.ports import parse_listening
from bodywork_runner.spec import Source
from tests.conftest import ProjectWriter

SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40)

#: Bodywork's test project's shape: two module services on port 5000, reached by name.
TWO_ON_5000 = """\
version: "1.1"
pipeline:
  name: bodywork-test-project
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: stage_1 >> stage_3,stage_4
stages:
  stage_1:
    executable_module_path: stage_1/main.py
    cpu_request: 0.5
    memory_request_mb: 100
    batch: {max_completion_time_seconds: 30, retries: 0}
  stage_3:
    executable_module_path: stage_3/main.py
    cpu_request: 0.5
    memory_request_mb: 100
    service: {max_startup_time_seconds: 30, replicas: 2, port: 5000, ingress: false}
  stage_4:
    executable_module_path: stage_4/main.py
    cpu_request: 0.5
    memory_request_mb: 100
    service: {max_startup_time_seconds: 30, replicas: 1, port: 5000, ingress: false}
logging:
  log_level: INFO
"""

FILES = ("stage_1/main.py", "stage_3/main.py", "stage_4/main.py")


def _plan(project: ProjectWriter, config: str, *files: str) -> Plan:
    return plan_pipeline(load_pipeline(project(config, *files)), SOURCE)


def _v2(**services: int) -> str:
    lines = ['version: "2.0"', "pipeline: {name: p}", "stages:", "  prep: {path: prep.py}"]
    for name, port in services.items():
        path = f"{name}.ipynb" if name.startswith("nb") else f"{name}.py"
        lines.append(f"  {name}: {{path: {path}, depends_on: [prep], service: {{port: {port}}}}}")
    return "\n".join(lines) + "\n"


def test_two_services_on_one_port_are_refused_with_the_reason_and_the_fix(
    project: ProjectWriter,
) -> None:
    plan = _plan(project, TWO_ON_5000, *FILES)
    assert shared_ports(plan) == [SharedPort(5000, ("stage_3", "stage_4"))]
    with pytest.raises(BadInputError) as refused:
        check_one_machine(plan)
    assert refused.value.exit_code == 2
    message = str(refused.value)
    assert "stages 'stage_3' and 'stage_4' are services on the same port 5000" in message
    assert "on a cluster each service has its own address" in message
    assert "give each its own port (service.port in bodywork.yaml)" in message
    assert "or deploy to a cluster (--target kubernetes)" in message


def test_services_on_their_own_ports_pass(project: ProjectWriter) -> None:
    plan = _plan(project, _v2(a=5001, b=5002), "prep.py", "a.py", "b.py")
    assert shared_ports(plan) == []
    check_one_machine(plan)  # no error


def test_every_service_on_a_shared_port_is_named_notebooks_too(project: ProjectWriter) -> None:
    plan = _plan(
        project, _v2(a=5000, nb=5000, c=5000, d=6000), "prep.py", "a.py", "nb.ipynb", "c.py", "d.py"
    )
    (shared,) = shared_ports(plan)
    assert shared.stages == ("a", "c", "nb")  # in the plan's order
    assert "stages 'a', 'c' and 'nb' are services on the same port 5000" in shared.message()


def test_each_service_has_a_url_variable_on_loopback_by_default(project: ProjectWriter) -> None:
    plan = _plan(project, TWO_ON_5000, *FILES)
    assert url_variable(plan.stages["stage_3"]) == "BODYWORK_SERVICE_STAGE_3_URL"
    assert service_url_env(plan) == {
        "BODYWORK_SERVICE_STAGE_3_URL": "http://127.0.0.1:5000",
        "BODYWORK_SERVICE_STAGE_4_URL": "http://127.0.0.1:5000",
    }
    cluster = service_url_env(plan, {"stage_3": "stage-3", "stage_4": "stage-4"})
    assert cluster == {
        "BODYWORK_SERVICE_STAGE_3_URL": "http://stage-3:5000",
        "BODYWORK_SERVICE_STAGE_4_URL": "http://stage-4:5000",
    }


def test_every_stage_spec_carries_the_urls_and_its_own_env_wins(project: ProjectWriter) -> None:
    config = _v2(score=5001).replace(
        "prep: {path: prep.py}", "prep: {path: prep.py, env: {BODYWORK_SERVICE_SCORE_URL: x}}"
    )
    plan = _plan(project, config, "prep.py", "score.py")
    score = runner_spec(plan, plan.stages["score"], Placement("r", 1))
    assert score.env == {"BODYWORK_SERVICE_SCORE_URL": "http://127.0.0.1:5001"}
    prep = runner_spec(plan, plan.stages["prep"], Placement("r", 1))
    assert prep.env == {"BODYWORK_SERVICE_SCORE_URL": "x"}  # pointed elsewhere on purpose
    hosts = Placement("r", 1, service_hosts={"score": "score"})
    assert runner_spec(plan, plan.stages["score"], hosts).env == {
        "BODYWORK_SERVICE_SCORE_URL": "http://score:5001"
    }


def test_listening_sockets_are_read_from_proc_net_tcp() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000"
        "        0 4242 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:1388 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000"
        "        0 4343 1 0000000000000000 20 4 30 10 -1\n"
        "   2: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 99 1 0 100 0 0 10 0\n"
        "   3: garbage\n"
    )
    # port 5000 listening (uid 1000, inode 4242); an established connection is not listed
    assert parse_listening(text) == [(5000, 1000, 4242), (8080, 0, 99)]
