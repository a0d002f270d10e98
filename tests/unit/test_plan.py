"""Pipeline -> Plan: golden files for the examples, the resolution rules, the runner spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import (
    DEFAULT_IMAGE,
    Placement,
    Plan,
    PlannedSecret,
    PlannedSource,
    plan_pipeline,
    runner_spec,
)
from bodywork_runner.spec import Source, StageSpec
from tests.conftest import ProjectWriter
from tests.golden import assert_golden

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
PLACEMENT = Placement(run_id="r-1", attempt=2, work_dir="/w", artifacts_dir="/a", cache_dir="/c")

SECRETS_V2 = """\
version: "2.0"
pipeline:
  name: churn
  secrets_group: prod
  log_level: DEBUG
stages:
  ingest:
    path: ingest.py
    env: {MODE: full}
    secrets:
      AWS_ACCESS_KEY_ID: aws-credentials
      TOKEN:
        secret: api-tokens
        key: ingest-token
  serve:
    path: serve.ipynb
    depends_on: [ingest]
    service: {port: 8080, replicas: 2, readiness_path: /ready}
"""

SECRETS_V1 = """\
version: "1.1"
pipeline:
  name: churn
  docker_image: bodyworkml/bodywork-core:3.1
  DAG: ingest
  secrets_group: prod
stages:
  ingest:
    executable_module_path: ingest.py
    cpu_request: 0.5
    memory_request_mb: 100
    secrets:
      AWS_SECRET_ACCESS_KEY: aws-credentials
      AWS_ACCESS_KEY_ID: aws-credentials
    batch:
      max_completion_time_seconds: 30
      retries: 0
logging:
  log_level: INFO
"""


def _plan(example: str) -> Plan:
    return plan_pipeline(load_pipeline(EXAMPLES / example), SOURCE)


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_example_plans_match_golden(example: str) -> None:
    plan = _plan(example)
    text = json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    assert_golden(f"plan-{example}.json", text)


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_the_stored_json_reads_back(example: str) -> None:
    plan = _plan(example)
    data = json.loads(json.dumps(plan.model_dump(mode="json")))
    # the fields other code reads from a stored plan
    assert data["order"] == list(plan.order)
    for name, stage in plan.stages.items():
        assert data["stages"][name]["kind"] == stage.kind
        assert data["stages"][name]["depends_on"] == list(stage.depends_on)
    assert Plan.model_validate(data) == plan


def test_the_run_on_failure_stage_is_in_the_stored_json() -> None:
    plan = _plan("bodywork-1.1")
    data = plan.model_dump(mode="json")
    assert data["run_on_failure"]["name"] == "send_alert"
    assert Plan.model_validate(data).run_on_failure == plan.run_on_failure


def test_probes_and_images() -> None:
    iris = _plan("iris")
    predict = iris.stages["predict"]
    assert predict.service is not None
    assert (predict.service.readiness.kind, predict.service.readiness.path, predict.port) == (
        "http",
        "/healthz",
        5000,
    )
    assert predict.is_notebook and not predict.serves_itself and predict.replicas == 1
    assert iris.stages["train"].port is None and iris.stages["train"].replicas == 1
    assert iris.order == ("prepare", "train", "predict", "report")
    classic = _plan("bodywork-1.1")
    # Bodywork's own image cannot run our runner: the stage image replaces it
    assert {s.image for s in classic.stages.values()} == {DEFAULT_IMAGE}
    serve = classic.stages["serve_model"]
    assert serve.serves_itself and serve.replicas == 2
    assert serve.service is not None and serve.service.readiness.kind == "tcp"
    assert classic.run_on_failure is not None and classic.run_on_failure.name == "send_alert"


def test_the_source_is_typed_and_converts_both_ways() -> None:
    plan = _plan("iris")
    assert plan.source == PlannedSource.from_runner(SOURCE)
    assert plan.source.to_runner() == SOURCE
    # a PlannedSource is accepted as is
    again = plan_pipeline(load_pipeline(EXAMPLES / "iris"), plan.source)
    assert again == plan


def test_every_runner_spec_is_what_the_runner_reads() -> None:
    for example in ("iris", "bodywork-1.1"):
        plan = _plan(example)
        stages = [*plan.stages.values(), *([plan.run_on_failure] if plan.run_on_failure else [])]
        for stage in stages:
            spec = runner_spec(plan, stage, PLACEMENT)
            assert StageSpec.from_json(spec.to_json()) == spec
            assert spec.stage == stage.name and spec.pipeline == plan.pipeline
            assert spec.source == SOURCE == plan.source.to_runner()
            assert spec.file == stage.file and spec.kind == stage.kind
            assert spec.timeout_seconds == stage.timeout_seconds
            assert spec.log_level == plan.log_level
            assert (spec.run_id, spec.attempt) == ("r-1", 2)
            assert (spec.work_dir, spec.artifacts_dir, spec.cache_dir) == ("/w", "/a", "/c")


def test_runner_spec_keeps_the_planned_address_by_default() -> None:
    plan = _plan("iris")
    spec = runner_spec(plan, plan.stages["predict"], Placement(run_id="r", attempt=1))
    assert spec.service is not None
    assert (spec.service.host, spec.service.port) == ("0.0.0.0", 5000)
    assert (spec.service.readiness_path, spec.service.predict_function) == ("/healthz", "predict")
    assert (spec.work_dir, spec.artifacts_dir, spec.cache_dir) == (None, None, None)
    assert runner_spec(plan, plan.stages["train"], PLACEMENT).service is None


def test_runner_spec_listen_overrides() -> None:
    plan = _plan("iris")
    placement = Placement(run_id="r", attempt=1, listen_host="127.0.0.1", listen_port=41234)
    spec = runner_spec(plan, plan.stages["predict"], placement)
    assert spec.service is not None
    assert (spec.service.host, spec.service.port) == ("127.0.0.1", 41234)
    # the plan itself is unchanged
    assert plan.stages["predict"].port == 5000
    only_port = runner_spec(plan, plan.stages["predict"], Placement("r", 1, listen_port=6000))
    assert only_port.service is not None
    assert (only_port.service.host, only_port.service.port) == ("0.0.0.0", 6000)


def test_runner_spec_merges_extra_env(project: ProjectWriter) -> None:
    plan = plan_pipeline(load_pipeline(project(SECRETS_V2, "ingest.py", "serve.ipynb")), SOURCE)
    ingest = plan.stages["ingest"]
    placement = Placement(
        run_id="r", attempt=1, extra_env={"BODYWORK_DATA_DIR": "/data", "MODE": "override"}
    )
    spec = runner_spec(plan, ingest, placement)
    assert spec.env == {
        "MODE": "override",
        "BODYWORK_DATA_DIR": "/data",
        "BODYWORK_SERVICE_SERVE_URL": "http://127.0.0.1:8080",
    }
    assert ingest.env == {"MODE": "full"}


def test_runner_spec_does_not_share_parameters_with_the_plan() -> None:
    plan = _plan("iris")
    spec = runner_spec(plan, plan.stages["train"], PLACEMENT)
    assert spec.parameters == {"n_estimators": 50}
    spec.parameters["n_estimators"] = 1
    assert plan.stages["train"].parameters == {"n_estimators": 50}


def test_secrets_resolve_to_the_group_v2(project: ProjectWriter) -> None:
    plan = plan_pipeline(load_pipeline(project(SECRETS_V2, "ingest.py", "serve.ipynb")), SOURCE)
    assert plan.secrets_group == "prod" and plan.log_level == "DEBUG"
    ingest = plan.stages["ingest"]
    assert ingest.secrets == {
        "AWS_ACCESS_KEY_ID": PlannedSecret(
            group="prod", secret="aws-credentials", key="AWS_ACCESS_KEY_ID"
        ),
        "TOKEN": PlannedSecret(group="prod", secret="api-tokens", key="ingest-token"),
    }
    assert ingest.secrets["TOKEN"].k8s_secret_name == "prod-api-tokens"
    spec = runner_spec(plan, ingest, PLACEMENT)
    assert spec.env_from_secrets == ["AWS_ACCESS_KEY_ID", "TOKEN"]
    assert spec.log_level == "DEBUG"
    serve = plan.stages["serve"]
    assert serve.service is not None
    assert (serve.service.readiness.path, serve.service.readiness_path) == ("/ready", "/ready")
    assert serve.replicas == 2


def test_secrets_resolve_to_the_group_v1(project: ProjectWriter) -> None:
    plan = plan_pipeline(load_pipeline(project(SECRETS_V1, "ingest.py")), SOURCE)
    secrets = plan.stages["ingest"].secrets
    assert secrets["AWS_SECRET_ACCESS_KEY"] == PlannedSecret(
        group="prod", secret="aws-credentials", key="AWS_SECRET_ACCESS_KEY"
    )
    assert {s.k8s_secret_name for s in secrets.values()} == {"prod-aws-credentials"}
    spec = runner_spec(plan, plan.stages["ingest"], PLACEMENT)
    assert spec.env_from_secrets == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]


def test_a_secret_without_a_group_is_named_as_is() -> None:
    assert PlannedSecret(group=None, secret="db", key="PASSWORD").k8s_secret_name == "db"


def test_a_stored_plan_that_contradicts_itself_is_refused() -> None:
    data = _plan("bodywork-1.1").model_dump(mode="json")
    serve = data["stages"]["serve_model"]
    bad_probe = json.loads(json.dumps(data))
    bad_probe["stages"]["serve_model"]["service"]["readiness"]["port"] = (
        serve["service"]["port"] + 1
    )
    no_service = json.loads(json.dumps(data))
    no_service["stages"]["serve_model"]["service"] = None
    bad_order = json.loads(json.dumps(data))
    bad_order["order"] = ["train_model"]
    bad_group = json.loads(json.dumps(data))
    bad_group["stages"]["train_model"]["secrets"] = {
        "X": {"group": "other", "secret": "s", "key": "X"}
    }
    old_shape = json.loads(json.dumps(data))
    old_shape["stages"]["train_model"]["spec"] = {}
    for bad in (bad_probe, no_service, bad_order, bad_group, old_shape):
        with pytest.raises(ValidationError):
            Plan.model_validate(bad)
