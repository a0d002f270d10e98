"""The exported YAML loads into Hera's models of Argo's objects and dumps back unchanged.

Hera 7 follows Argo 4. Its pydantic models ignore a key they do not know, so a dump
equal to the input also says every key we write is one Argo's API has.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hera.workflows import CronWorkflow, Workflow, WorkflowTemplate
from hera.workflows import models as m

from tests.golden import GOLDEN_DIR

GOLDEN = ("argo-iris.yaml", "argo-bodywork-1.1.yaml", "argo-everything.yaml")
MODELS: dict[str, Any] = {
    "Workflow": m.Workflow,
    "WorkflowTemplate": m.WorkflowTemplate,
    "CronWorkflow": m.CronWorkflow,
}
HIGH_LEVEL: dict[str, Any] = {
    "Workflow": Workflow,
    "WorkflowTemplate": WorkflowTemplate,
    "CronWorkflow": CronWorkflow,
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in GOLDEN:
        text = (GOLDEN_DIR / name).read_text(encoding="utf-8")
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                found.append((f"{name}:{doc['kind']}", doc))
    return found


DOCUMENTS = _documents()


def _round_trip(doc: dict[str, Any]) -> dict[str, Any]:
    model = MODELS[doc["kind"]].model_validate(doc)
    dumped: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


@pytest.mark.parametrize(("where", "doc"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_hera_models_keep_every_field(where: str, doc: dict[str, Any]) -> None:
    assert _round_trip(doc) == doc


@pytest.mark.parametrize(("where", "doc"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_heras_workflow_objects_read_and_write_it_unchanged(
    where: str, doc: dict[str, Any]
) -> None:
    """What a Hera user gets from the file (``Workflow.from_yaml``) is the export."""
    text = yaml.safe_dump(doc)
    assert HIGH_LEVEL[doc["kind"]].from_yaml(text).to_dict() == doc


def test_the_round_trip_would_see_a_key_argo_does_not_have() -> None:
    """Hera drops what it does not know: the comparison is what catches a stray key."""
    _, doc = DOCUMENTS[0]
    stray = copy.deepcopy(doc)
    stray["spec"]["templates"][1]["container"]["comand"] = ["x"]
    assert _round_trip(stray) != stray
    assert _round_trip(stray) == doc
