"""The export's checks bite: each broken shape of a golden document is its own clear error.

Our semantic checks (``plan.argo.semantic_checks``) need nothing; the schema cases need
Argo's JSON Schema (tests/argo_data.py), tightened as ``plan.argo.schema_check`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bodywork_jupyter.errors import ExportCheckError
from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.plan.argo import ArgoSchema, check_documents, tightened, validate_export
from tests.argo_data import raw_schema
from tests.golden import GOLDEN_DIR

Doc = dict[str, Any]


def _golden(name: str) -> list[Doc]:
    text = (GOLDEN_DIR / name).read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _workflow() -> Doc:
    """The everything pipeline's Workflow: every kind of template is in it."""
    return copy.deepcopy(_golden("argo-everything.yaml")[0])


def _cron_pair() -> list[Doc]:
    return copy.deepcopy(_golden("argo-everything.yaml")[1:])


def _template(doc: Doc, name: str) -> Doc:
    return next(t for t in doc["spec"]["templates"] if t["name"] == name)


def _index(doc: Doc, name: str) -> int:
    return next(i for i, t in enumerate(doc["spec"]["templates"]) if t["name"] == name)


def _task(doc: Doc, name: str) -> Doc:
    return next(t for t in _template(doc, "pipeline")["dag"]["tasks"] if t["name"] == name)


@pytest.fixture(scope="module")
def schema() -> ArgoSchema:
    return ArgoSchema(raw_schema())


# (what breaks, how, the path of the problem, words of its message)
Breakage = tuple[str, Callable[[Doc], None], str, str]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()
# where the cases' templates are in the golden Workflow (the paths they name)
TRAIN = _index(_workflow(), "train")
SERVE_DEPLOYMENT = _index(_workflow(), "serve-deployment")
ON_EXIT = _index(_workflow(), "on-exit")
INGEST = _index(_workflow(), "ingest")

OURS: list[Breakage] = [
    (
        "a depends naming no task",
        lambda d: _task(d, "serve").update(depends="train && evaluat"),
        "spec.templates[0].dag.tasks[3].depends",
        "names no task of this DAG: 'evaluat' - did you mean 'evaluate'?",
    ),
    (
        "a task result misspelt",
        lambda d: _task(d, "train").update(depends="ingest.Succeded"),
        "spec.templates[0].dag.tasks[1].depends",
        "'Succeded' is not a task result - did you mean 'Succeeded'?",
    ),
    (
        "a cycle",
        lambda d: _task(d, "ingest").update(depends="serve"),
        "spec.templates[0].dag.tasks",
        "depend on each other in a cycle",
    ),
    (
        "depends mixed with dependencies",
        lambda d: _task(d, "train").update(dependencies=["ingest"]),
        "spec.templates[0].dag.tasks[1]",
        "has depends and dependencies",
    ),
    (
        "a task running no template",
        lambda d: _task(d, "evaluate").update(template="evaluation"),
        "spec.templates[0].dag.tasks[2].template",
        "names no template: 'evaluation'",
    ),
    (
        "no entrypoint template",
        _set("spec.entrypoint", "main"),
        "spec.entrypoint",
        "names no template: 'main'",
    ),
    (
        "no exit handler template",
        _set("spec.onExit", "on-exit-handler"),
        "spec.onExit",
        "names no template: 'on-exit-handler' - did you mean 'on-exit'?",
    ),
    (
        "a template defined twice",
        lambda d: d["spec"]["templates"].append(copy.deepcopy(_template(d, "train"))),
        "spec.templates",
        "template 'train' is defined 2 times",
    ),
    (
        "a deadline left out",
        lambda d: _template(d, "train").pop("activeDeadlineSeconds"),
        f"spec.templates[{TRAIN}].activeDeadlineSeconds",
        "is missing - every attempt needs a deadline",
    ),
    (
        "a deadline of nothing",
        lambda d: _template(d, "train").update(activeDeadlineSeconds="0"),
        f"spec.templates[{TRAIN}].activeDeadlineSeconds",
        "'0' is not a positive number of seconds",
    ),
    (
        "no explicit command",
        lambda d: _template(d, "train")["container"].pop("command"),
        f"spec.templates[{TRAIN}].container.command",
        "is missing - Argo's executor otherwise looks the image up",
    ),
    (
        "a resource template without a timeout",
        lambda d: _template(d, "serve-deployment").pop("timeout"),
        f"spec.templates[{SERVE_DEPLOYMENT}].timeout",
        "is missing - a resource template's deadline is its timeout",
    ),
    (
        "create instead of apply",
        lambda d: _template(d, "serve-deployment")["resource"].update(action="create"),
        f"spec.templates[{SERVE_DEPLOYMENT}].resource.action",
        "is 'create' - apply: a retried create fails",
    ),
    (
        "a service owned by the workflow",
        lambda d: _template(d, "serve-deployment")["resource"].update(setOwnerReference=True),
        f"spec.templates[{SERVE_DEPLOYMENT}].resource.setOwnerReference",
        "is true - a service must outlive the workflow",
    ),
    (
        "two objects in one resource template",
        lambda d: _template(d, "serve-deployment")["resource"].update(
            manifest=_template(d, "serve-deployment")["resource"]["manifest"]
            + "---\n"
            + _template(d, "serve-service")["resource"]["manifest"]
        ),
        f"spec.templates[{SERVE_DEPLOYMENT}].resource.manifest",
        "holds 2 objects - one object per resource template",
    ),
    (
        "a parameter that is not declared",
        lambda d: d["spec"]["arguments"]["parameters"].pop(0),
        f"spec.templates[{TRAIN}].container.env[0].value",
        "'{{workflow.parameters.train_n_estimators}}' names no workflow parameter",
    ),
    (
        "a parameter declared twice",
        lambda d: d["spec"]["arguments"]["parameters"].append({"name": "evaluate_threshold"}),
        "spec.arguments.parameters[4].name",
        "parameter 'evaluate_threshold' is given twice",
    ),
    (
        "an input the exit handler does not give",
        lambda d: _template(d, "on-exit")["dag"]["tasks"][0].pop("arguments"),
        f"spec.templates[{ON_EXIT}].dag.tasks[0].arguments",
        "gives no value for the input parameter 'failures' of template 'alert'",
    ),
    (
        "a task name Argo refuses",
        lambda d: _task(d, "ingest").update(name="ingest_all"),
        "spec.templates[0].dag.tasks[0].name",
        "'ingest_all' is not an Argo name",
    ),
    (
        "a name too long",
        _set("metadata.generateName", "c" * 60 + "-"),
        "metadata.generateName",
        "is 61 characters, Argo allows 58",
    ),
    (
        "a template doing two things",
        lambda d: _template(d, "train").update(script={"image": "x", "source": "print()"}),
        f"spec.templates[{TRAIN}]",
        "does container and script",
    ),
    (
        "a variable the export never writes",
        lambda d: _template(d, "train")["container"]["env"].append(
            {"name": "X", "value": "{{steps.a.outputs.result}}"}
        ),
        f"spec.templates[{TRAIN}].container.env[9].value",
        "'{{steps.a.outputs.result}}' is not a variable the export writes",
    ),
]

SCHEMA: list[Breakage] = [
    (
        "a misspelt container key",
        lambda d: _template(d, "train")["container"].update(comand=["bodywork-runner"]),
        f"spec.templates[{TRAIN}].container",
        "unknown key 'comand' - did you mean 'command'?",
    ),
    (
        "a misspelt template key",
        lambda d: _template(d, "train").update(retryStrateg={"limit": "1"}),
        f"spec.templates[{TRAIN}]",
        "unknown key 'retryStrateg' - did you mean 'retryStrategy'?",
    ),
    (
        "a misspelt spec key",
        lambda d: d["spec"].update(ttlStrategie=d["spec"].pop("ttlStrategy")),
        "spec",
        "unknown key 'ttlStrategie' - did you mean 'ttlStrategy'?",
    ),
    (
        "a wrong type",
        lambda d: d["spec"]["ttlStrategy"].update(secondsAfterCompletion="a week"),
        "spec.ttlStrategy.secondsAfterCompletion",
        "'a week' is not of type 'integer'",
    ),
    (
        "a secret reference without its key",
        lambda d: next(e for e in _template(d, "ingest")["container"]["env"] if "valueFrom" in e)[
            "valueFrom"
        ]["secretKeyRef"].pop("key"),
        f"spec.templates[{INGEST}].container.env[6].valueFrom.secretKeyRef",
        "'key' is a required property",
    ),
]


def _problems(docs: list[Doc], schema: ArgoSchema | None) -> list[Problem]:
    with pytest.raises(ExportCheckError) as raised:
        validate_export(docs, schema)
    error = raised.value
    assert str(error).startswith("the exported ")
    assert "did not pass its checks, so nothing was written" in str(error)
    assert error.exit_code == 2
    return error.problems


@pytest.mark.parametrize(("what", "break_it", "path", "words"), OURS, ids=[c[0] for c in OURS])
def test_our_checks_name_the_field(
    what: str, break_it: Callable[[Doc], None], path: str, words: str
) -> None:
    doc = _workflow()
    assert check_documents([doc]) == []
    break_it(doc)
    problems = _problems([doc], None)
    shown = [
        f"{p.path}: {p.message} - {p.hint}" if p.hint else f"{p.path}: {p.message}"
        for p in problems
    ]
    assert any(s.startswith(f"{path}: ") and words in s for s in shown), shown
    assert all(p.file == "Workflow churn-" or p.file.startswith("Workflow ") for p in problems)


@pytest.mark.parametrize(("what", "break_it", "path", "words"), SCHEMA, ids=[c[0] for c in SCHEMA])
def test_argos_schema_names_the_field(
    what: str, break_it: Callable[[Doc], None], path: str, words: str, schema: ArgoSchema
) -> None:
    doc = _workflow()
    break_it(doc)
    assert check_documents([doc]) == []  # our checks do not see it: the schema does
    shown = [
        f"{p.path}: {p.message} - {p.hint}" if p.hint else f"{p.path}: {p.message}"
        for p in _problems([doc], schema)
    ]
    assert any(s.startswith(f"{path}: ") and words in s for s in shown), shown


def test_a_cron_workflow_must_run_the_template_exported_with_it(schema: ArgoSchema) -> None:
    template, cron = _cron_pair()
    validate_export([template, cron], schema)
    problems = _problems([cron], schema)  # exported alone
    assert [(p.path, p.message) for p in problems] == [
        (
            "spec.workflowSpec.workflowTemplateRef.name",
            "names WorkflowTemplate 'churn', which is not exported with it",
        )
    ]
    cron["spec"]["schedule"] = cron["spec"].pop("schedules")[0]  # Argo 3's spelling
    shown = {(p.path, p.message, p.hint) for p in _problems([template, cron], schema)}
    assert ("spec.schedules", "is missing or empty", "give one cron schedule or more") in shown
    assert ("spec", "unknown key 'schedule'", "did you mean 'schedules'?") in shown


def test_the_tightening_is_what_makes_the_schema_useful() -> None:
    """Published, the schema refuses valid IntOrString values and passes typos."""
    raw = raw_schema()
    tight = ArgoSchema(raw)
    validator = Draft202012Validator(
        {"$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow", **raw}
    )
    doc = _workflow()
    _template(doc, "train")["retryStrategy"]["limit"] = 2  # valid: Argo takes an int too
    assert list(validator.iter_errors(doc))  # a false positive, as published
    assert tight.problems(doc) == []
    doc = _workflow()
    _template(doc, "train")["container"]["comand"] = ["x"]
    assert not list(validator.iter_errors(doc))  # the typo passes, as published
    assert tight.problems(doc)
    assert (
        tightened(raw)["definitions"]["io.argoproj.workflow.v1alpha1.Template"][
            "additionalProperties"
        ]
        is False
    )
    assert (
        "additionalProperties" not in raw["definitions"]["io.argoproj.workflow.v1alpha1.Template"]
    )


def test_a_schema_that_is_not_argos_is_refused() -> None:
    with pytest.raises(ValueError, match="not Argo's JSON Schema"):
        ArgoSchema({"definitions": {}})


def test_every_problem_is_reported_not_just_the_first() -> None:
    doc = _workflow()
    _task(doc, "serve").update(depends="nothing")
    _template(doc, "train").pop("activeDeadlineSeconds")
    doc["spec"]["entrypoint"] = "nowhere"
    assert len(_problems([doc], None)) == 3
