"""Pipeline -> Plan: golden files for the examples, and the resolution rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import DEFAULT_IMAGE, plan_pipeline
from bodywork_runner.spec import Source, StageSpec
from tests.golden import assert_golden

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_example_plans_match_golden(example: str) -> None:
    plan = plan_pipeline(load_pipeline(EXAMPLES / example), SOURCE)
    text = json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    assert_golden(f"plan-{example}.json", text)


def test_every_stage_spec_is_what_the_runner_reads() -> None:
    plan = plan_pipeline(load_pipeline(EXAMPLES / "iris"), SOURCE)
    for stage in plan.stages.values():
        spec = StageSpec.from_json(json.dumps(stage.spec))
        assert spec.stage == stage.name
        assert spec.source == SOURCE


def test_probes_and_images() -> None:
    iris = plan_pipeline(load_pipeline(EXAMPLES / "iris"), SOURCE)
    predict = iris.stages["predict"]
    assert predict.readiness is not None
    assert (predict.readiness.kind, predict.readiness.path, predict.port) == (
        "http",
        "/healthz",
        5000,
    )
    assert iris.order == ("prepare", "train", "predict", "report")
    classic = plan_pipeline(load_pipeline(EXAMPLES / "bodywork-1.1"), SOURCE)
    # Bodywork's own image cannot run our runner: the stage image replaces it
    assert {s.image for s in classic.stages.values()} == {DEFAULT_IMAGE}
    serve = classic.stages["serve_model"]
    assert serve.serves_itself and serve.readiness is not None and serve.readiness.kind == "tcp"
    assert classic.run_on_failure is not None and classic.run_on_failure.name == "send_alert"
