"""--param STAGE.NAME=VALUE: YAML-typed overrides of a plan's notebook parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Placement, Plan, apply_params, plan_pipeline, runner_spec
from bodywork_runner.spec import Source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_pipeline(load_pipeline(EXAMPLES / "iris"), Source(local_path="/p"))


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ("hello", "hello"),
        ("'3'", "3"),
        ("[64, 32]", [64, 32]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
        ("", ""),
        ("  ", ""),
        ("a=b", "a=b"),
        # YAML that is not valid stays the text typed
        ("[1, 2", "[1, 2"),
        # values JSON cannot hold stay the text typed: the plan is stored as JSON
        ("2021-01-01", "2021-01-01"),
        ("{1: 2}", "{1: 2}"),
    ],
)
def test_values_are_yaml_typed(plan: Plan, raw: str, value: object) -> None:
    updated = apply_params(plan, [f"train.x={raw}"])
    assert updated.stages["train"].parameters == {"n_estimators": 50, "x": value}
    Plan.model_validate(updated.model_dump(mode="json"))


def test_overrides_replace_planned_values_and_later_ones_win(plan: Plan) -> None:
    updated = apply_params(plan, ["train.n_estimators=10", "prepare.a=1", "train.n_estimators=20"])
    assert updated.stages["train"].parameters == {"n_estimators": 20}
    assert updated.stages["prepare"].parameters == {"a": 1}
    # the original plan is untouched; other stages are the same objects
    assert plan.stages["train"].parameters == {"n_estimators": 50}
    assert updated.stages["report"] is plan.stages["report"]
    spec = runner_spec(updated, updated.stages["train"], Placement(run_id="r", attempt=1))
    assert spec.parameters == {"n_estimators": 20}


def test_no_params_is_the_same_plan(plan: Plan) -> None:
    assert apply_params(plan, ()) == plan


def test_a_dotted_name_keeps_its_dots(plan: Plan) -> None:
    assert apply_params(plan, ["train.a.b=1"]).stages["train"].parameters["a.b"] == 1


def test_unknown_stage(plan: Plan) -> None:
    with pytest.raises(BadInputError) as info:
        apply_params(plan, ["trian.n=3"])
    assert str(info.value) == (
        "--param 'trian.n=3': no stage 'trian' (stages: prepare, train, predict, report)"
    )
    assert info.value.exit_code == 2


@pytest.mark.parametrize("item", ["train.n", "train=3", "train.=3", "=3", ""])
def test_bad_syntax(plan: Plan, item: str) -> None:
    with pytest.raises(BadInputError) as info:
        apply_params(plan, [item])
    assert str(info.value) == f"--param {item!r}: write STAGE.NAME=VALUE, e.g. train.n=3"
