"""The stages' notebook parameters as workflow arguments, so ``argo submit -p`` sets them.

Each parameter of each stage becomes the argument ``STAGE_NAME`` (``train_n_estimators``)
whose value is the planned one. The runner reads a stage's parameters from its spec (JSON
in ``BODYWORK_STAGE_SPEC``), so the spec holds ``{{workflow.parameters.STAGE_NAME}}`` where
the value was, and Argo puts the argument's text there when the workflow starts:

- a text parameter keeps its quotes in the spec: its argument is the text itself
  (``-p report_title=Weekly``), as written inside JSON quotes (no bare ``"`` or ``\\``);
- any other parameter is JSON (``-p train_n_estimators=80``, ``-p train_layers=[64,32]``).

The spec is rendered once, by the Kubernetes target's own code, from a copy of the plan
whose parameters are sentinels; the sentinels are then replaced by the references.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.argo.names import PARAMETER_NAME, parameter_name
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.model import Plan, PlannedStage

_SENTINEL = "@@bodywork-argo-parameter:{}@@"


@dataclass(frozen=True)
class WorkflowParameter:
    """One notebook parameter of one stage, as a workflow argument."""

    name: str  # the argument's name, STAGE_KEY
    stage: str  # the stage, as in bodywork.yaml
    key: str  # the notebook parameter
    value: JsonValue  # as planned: the argument's default

    @property
    def is_text(self) -> bool:
        return isinstance(self.value, str)

    @property
    def text(self) -> str:
        """The argument's value: a text as it is inside JSON quotes, anything else JSON."""
        encoded = json.dumps(self.value)
        return encoded[1:-1] if self.is_text else encoded

    @property
    def sentinel(self) -> str:
        return _SENTINEL.format(self.name)

    @property
    def reference(self) -> str:
        return "{{workflow.parameters." + self.name + "}}"


def _stages(plan: Plan) -> list[PlannedStage]:
    stages = [plan.stages[name] for name in plan.order]
    return stages + ([plan.run_on_failure] if plan.run_on_failure else [])


def workflow_parameters(plan: Plan) -> list[WorkflowParameter]:
    """Every stage's notebook parameters, in the plan's order (``run_on_failure`` last)."""
    found: list[WorkflowParameter] = []
    for stage in _stages(plan):
        for key, value in stage.parameters.items():
            name = parameter_name(stage, key)
            if not PARAMETER_NAME.fullmatch(name):
                raise BadInputError(
                    f"stage {stage.name}: parameter {key!r} cannot name an Argo workflow "
                    f"parameter ({name!r}: letters, digits, '_' and '-' only) - rename it"
                )
            found.append(WorkflowParameter(name, stage.name, key, value))
    return found


def arguments(parameters: Iterable[WorkflowParameter]) -> Manifest | None:
    """The workflow's ``arguments`` (None without parameters)."""
    listed = [
        {
            "name": p.name,
            "value": p.text,
            "description": f"{p.stage}.{p.key}: "
            + ("text, without its quotes" if p.is_text else "JSON"),
        }
        for p in parameters
    ]
    return {"parameters": listed} if listed else None


def with_sentinels(plan: Plan, parameters: Iterable[WorkflowParameter]) -> Plan:
    """``plan`` with each parameter's value replaced by its sentinel (a text)."""
    by_stage: dict[str, dict[str, JsonValue]] = {}
    for p in parameters:
        by_stage.setdefault(p.stage, {})[p.key] = p.sentinel

    def swapped(stage: PlannedStage) -> PlannedStage:
        if stage.name not in by_stage:
            return stage
        return stage.model_copy(update={"parameters": {**stage.parameters, **by_stage[stage.name]}})

    stages = {name: swapped(stage) for name, stage in plan.stages.items()}
    on_failure = swapped(plan.run_on_failure) if plan.run_on_failure else None
    return plan.model_copy(update={"stages": stages, "run_on_failure": on_failure})


def substituted(value: Any, parameters: Iterable[WorkflowParameter]) -> Any:
    """``value`` (rendered from ``with_sentinels``) with every sentinel made a reference.

    In the spec's JSON a sentinel is a quoted string: a text parameter keeps the quotes,
    any other loses them (its argument is JSON). A sentinel left over is a bug.
    """
    pairs: list[tuple[str, str]] = []
    for p in parameters:
        quoted = json.dumps(p.sentinel)
        pairs.append((p.sentinel if p.is_text else quoted, p.reference))
        pairs.append((p.sentinel, p.reference))  # outside JSON (never expected)
    result = _replace(value, pairs)
    if _SENTINEL.split("{}")[0] in json.dumps(result):
        raise ValueError("a workflow parameter's sentinel was left in the export")
    return result


def _replace(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _replace(v, pairs) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, pairs) for v in value]
    return value
