"""Argo reads ``{{...}}`` anywhere in a template as one of its variables (there is no
escape): a plan whose own text holds ``{{`` is refused before anything is rendered."""

from __future__ import annotations

from typing import Any

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.problems import dotted_path
from bodywork_jupyter.plan.model import Plan


def _texts(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _texts(v, (*path, str(k)))]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _texts(v, (*path, i))]
    return []


def refuse_argo_variables(plan: Plan) -> None:
    """BadInputError naming every field of ``plan`` that holds ``{{``."""
    found = [
        dotted_path(path) for path, text in _texts(plan.model_dump(mode="json"), ()) if "{{" in text
    ]
    if found:
        raise BadInputError(
            f"pipeline {plan.pipeline}: {', '.join(found)} holds '{{{{', which Argo reads as "
            "one of its variables ({{workflow.name}}) - change the text for the Argo export"
        )
