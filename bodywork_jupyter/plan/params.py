"""``--param STAGE.NAME=VALUE``: override a stage's notebook parameters in a plan.

Values are read as YAML so ``train.n=3`` gives the number 3 and ``train.layers=[64, 32]``
a list, as they would be in bodywork.yaml. The plan is stored as JSON, so a value YAML
reads as something JSON cannot hold (a date, bytes, a set) stays the text that was typed.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from pydantic import JsonValue, TypeAdapter, ValidationError

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan, PlannedStage

_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


def apply_params(plan: Plan, params: Sequence[str]) -> Plan:
    """``plan`` with each ``STAGE.NAME=VALUE`` set in that stage's parameters (later wins)."""
    stages: dict[str, PlannedStage] = dict(plan.stages)
    for item in params:
        key, sep, raw = item.partition("=")
        stage_name, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise BadInputError(f"--param {item!r}: write STAGE.NAME=VALUE, e.g. train.n=3")
        if stage_name not in stages:
            known = ", ".join(stages)
            raise BadInputError(f"--param {item!r}: no stage '{stage_name}' (stages: {known})")
        stage = stages[stage_name]
        parameters = {**stage.parameters, name: _value(raw)}
        stages[stage_name] = stage.model_copy(update={"parameters": parameters})
    return plan.model_copy(update={"stages": stages})


def _value(raw: str) -> JsonValue:
    if not raw.strip():
        return ""
    try:
        return _JSON.validate_python(yaml.safe_load(raw))
    except (yaml.YAMLError, ValidationError):
        return raw
