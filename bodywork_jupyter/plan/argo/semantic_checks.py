"""Our own checks of Argo documents: what Argo's schema cannot say.

Every DAG task runs a template that exists, and its ``depends`` names tasks of its DAG (no
cycle); the entrypoint and the exit handler exist; template and task names are unique and
within Argo's rules; every container template names its command and has a per-attempt
deadline, every resource template a timeout; a resource template applies one object and
leaves it unowned; every ``{{workflow.parameters.X}}`` and ``{{inputs.parameters.X}}`` is
declared; a CronWorkflow runs the WorkflowTemplate exported with it. Each finding is a
Problem naming the document and the field.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

import yaml

from bodywork_jupyter.pipeline.problems import Problem, did_you_mean, dotted_path
from bodywork_jupyter.plan.argo.names import (
    CRON_WORKFLOW_NAME_LIMIT,
    FIELD_NAME,
    FIELD_NAME_LIMIT,
    GENERATED_CHARS,
    PARAMETER_NAME,
)
from bodywork_jupyter.plan.argo.options import API_VERSION
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import DNS1123_SUBDOMAIN, NAME_LIMIT

Path = tuple[str | int, ...]

KINDS = ("Workflow", "WorkflowTemplate", "CronWorkflow")
#: What a template does: exactly one of these.
TEMPLATE_TYPES = (
    "container",
    "containerSet",
    "dag",
    "data",
    "http",
    "plugin",
    "resource",
    "script",
    "steps",
    "suspend",
)
_TASK_RESULTS = (
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
)
_DEPENDS_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[^\s&|!()]+)")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
#: Variables Argo gives every template (the exit handler's too), that we write.
_GLOBALS = {"workflow.name", "workflow.namespace", "workflow.uid", "workflow.status",
            "workflow.failures", "workflow.duration", "retries"}  # fmt: skip
_INTEGER = re.compile(r"[0-9]+")
_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+|[0-9]+")


def document_label(doc: Any) -> str:
    """``Workflow iris-``: how a finding names its document."""
    if not isinstance(doc, dict):
        return "document"
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    name = meta.get("name") or meta.get("generateName") or "(no name)"
    return f"{doc.get('kind', 'document')} {name}"


class _Findings:
    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.label, 0, dotted_path(path), message, hint))


def check_documents(docs: Sequence[Any]) -> list[Problem]:
    """Every finding in ``docs`` (one export: a CronWorkflow's template is among them)."""
    templates = {
        doc["metadata"].get("name")
        for doc in docs
        if isinstance(doc, dict) and doc.get("kind") == "WorkflowTemplate"
        and isinstance(doc.get("metadata"), dict)
    }  # fmt: skip
    problems: list[Problem] = []
    for doc in docs:
        found = _Findings(document_label(doc))
        _check_document(doc, found, templates)
        problems += found.problems
    return problems


def _check_document(doc: Any, found: _Findings, templates: set[str | None]) -> None:
    if not isinstance(doc, dict):
        found.add((), "is not a mapping", "an Argo object is apiVersion, kind, metadata, spec")
        return
    if doc.get("apiVersion") != API_VERSION:
        found.add(("apiVersion",), f"is {doc.get('apiVersion')!r}, not {API_VERSION}")
    kind = doc.get("kind")
    if kind not in KINDS:
        found.add(("kind",), f"is {kind!r}", f"one of {', '.join(KINDS)}")
        return
    _check_name(doc, found)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        found.add(("spec",), "is missing")
        return
    if kind == "CronWorkflow":
        _check_cron(spec, found, templates)
    else:
        _check_spec(spec, ("spec",), found)


def _check_name(doc: Manifest, found: _Findings) -> None:
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        found.add(("metadata",), "is missing")
        return
    kind = doc["kind"]
    limit = CRON_WORKFLOW_NAME_LIMIT if kind == "CronWorkflow" else NAME_LIMIT
    if "name" in meta:
        key, name = "name", str(meta["name"])
    elif kind == "Workflow" and "generateName" in meta:
        key, name = "generateName", str(meta["generateName"])
        limit -= GENERATED_CHARS  # Argo's suffix
    else:
        found.add(("metadata",), "has no name", "give metadata.name")
        return
    if len(name) > limit:
        found.add(("metadata", key), f"'{name}' is {len(name)} characters, Argo allows {limit}")
    bare = name[:-1] if key == "generateName" and name.endswith("-") else name
    if not DNS1123_SUBDOMAIN.fullmatch(bare):
        found.add(("metadata", key), f"'{name}' is not a DNS-1123 name (a-z, 0-9, '-')")


def _check_cron(spec: Manifest, found: _Findings, templates: set[str | None]) -> None:
    schedules = spec.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        found.add(("spec", "schedules"), "is missing or empty", "give one cron schedule or more")
    inner = spec.get("workflowSpec")
    if not isinstance(inner, dict):
        found.add(("spec", "workflowSpec"), "is missing")
        return
    ref = inner.get("workflowTemplateRef")
    if isinstance(ref, dict):
        name = ref.get("name")
        if name not in templates:
            known = sorted(str(t) for t in templates if t)
            found.add(
                ("spec", "workflowSpec", "workflowTemplateRef", "name"),
                f"names WorkflowTemplate {name!r}, which is not exported with it",
                did_you_mean(str(name), known) or "export the template with the CronWorkflow",
            )
    else:
        _check_spec(inner, ("spec", "workflowSpec"), found)


def _named(items: Any) -> list[tuple[int, Manifest]]:
    return (
        [(i, t) for i, t in enumerate(items) if isinstance(t, dict)]
        if isinstance(items, list)
        else []
    )


def _check_field_name(name: Any, path: Path, found: _Findings) -> None:
    if not isinstance(name, str) or not name:
        found.add(path, "is missing")
    elif len(name) > FIELD_NAME_LIMIT or not FIELD_NAME.fullmatch(name):
        found.add(
            path,
            f"'{name}' is not an Argo name",
            f"at most {FIELD_NAME_LIMIT} of a-z, A-Z, 0-9 and '-', starting with a letter or digit",
        )


def _check_spec(spec: Manifest, at: Path, found: _Findings) -> None:
    templates = _named(spec.get("templates"))
    if not templates:
        found.add((*at, "templates"), "is missing or empty")
    names = [t.get("name") for _, t in templates]
    for i, template in templates:
        _check_field_name(template.get("name"), (*at, "templates", i, "name"), found)
    for name, count in Counter(names).items():
        if count > 1:
            found.add((*at, "templates"), f"template '{name}' is defined {count} times")
    known = {n for n in names if isinstance(n, str)}
    for key in ("entrypoint", "onExit"):
        value = spec.get(key)
        if value is None and key == "entrypoint":
            found.add((*at, key), "is missing", "name the template the workflow starts with")
        elif value is not None and value not in known:
            found.add((*at, key), f"names no template: '{value}'", did_you_mean(str(value), known))
    parameters = _check_arguments(spec.get("arguments"), (*at, "arguments"), found)
    by_name = {t["name"]: t for _, t in templates if isinstance(t.get("name"), str)}
    for i, template in templates:
        path = (*at, "templates", i)
        _check_template(template, path, found, by_name)
        inputs = _input_names(template)
        for where, text in _strings(template, path):
            _check_variables(text, where, found, parameters, inputs)


def _check_arguments(arguments: Any, at: Path, found: _Findings) -> set[str]:
    declared: set[str] = set()
    if not isinstance(arguments, dict):
        return declared
    for i, parameter in _named(arguments.get("parameters")):
        name = parameter.get("name")
        if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
            found.add(
                (*at, "parameters", i, "name"),
                f"{name!r} is not a parameter name",
                "letters, digits, '_' and '-'",
            )
            continue
        if name in declared:
            found.add((*at, "parameters", i, "name"), f"parameter '{name}' is given twice")
        declared.add(name)
    return declared


def _input_names(template: Manifest) -> set[str]:
    inputs = template.get("inputs")
    if not isinstance(inputs, dict):
        return set()
    return {str(p.get("name")) for _, p in _named(inputs.get("parameters"))}


def _check_template(
    template: Manifest, at: Path, found: _Findings, templates: dict[str, Manifest]
) -> None:
    types = [t for t in TEMPLATE_TYPES if t in template]
    if len(types) != 1:
        found.add(
            at,
            f"does {' and '.join(types) or 'nothing'}",
            "a template is exactly one of container, dag, resource, ...",
        )
        return
    kind = types[0]
    if kind in ("container", "script"):
        _check_container(template, kind, at, found)
    elif kind == "resource":
        _check_resource(template, at, found)
    elif kind == "dag":
        _check_dag(template.get("dag"), (*at, "dag"), found, templates)
    retries = template.get("retryStrategy")
    if isinstance(retries, dict) and "limit" in retries:
        limit = retries["limit"]
        if not (isinstance(limit, int) and limit >= 0) and not (
            isinstance(limit, str) and _INTEGER.fullmatch(limit)
        ):
            found.add((*at, "retryStrategy", "limit"), f"{limit!r} is not a number of retries")


def _check_container(template: Manifest, kind: str, at: Path, found: _Findings) -> None:
    container = template.get(kind)
    if not isinstance(container, dict):
        found.add((*at, kind), "is not a mapping")
        return
    if kind == "container" and not container.get("command"):
        found.add(
            (*at, kind, "command"),
            "is missing",
            "Argo's executor otherwise looks the image up: name the command",
        )
    deadline = template.get("activeDeadlineSeconds")
    if deadline is None:
        found.add(
            (*at, "activeDeadlineSeconds"),
            "is missing",
            "every attempt needs a deadline, or a stuck one runs for ever",
        )
    elif not _positive(deadline):
        found.add(
            (*at, "activeDeadlineSeconds"), f"{deadline!r} is not a positive number of seconds"
        )


def _positive(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and bool(_INTEGER.fullmatch(value)) and int(value) > 0


def _check_resource(template: Manifest, at: Path, found: _Findings) -> None:
    timeout = template.get("timeout")
    if timeout is None:
        found.add(
            (*at, "timeout"),
            "is missing",
            "a resource template's deadline is its timeout (activeDeadlineSeconds does not apply)",
        )
    elif not isinstance(timeout, str) or not _DURATION.fullmatch(timeout):
        found.add((*at, "timeout"), f"{timeout!r} is not a duration such as 5m")
    resource = template.get("resource")
    if not isinstance(resource, dict):
        found.add((*at, "resource"), "is not a mapping")
        return
    if resource.get("action") != "apply":
        found.add(
            (*at, "resource", "action"),
            f"is {resource.get('action')!r}",
            "apply: a retried create fails with AlreadyExists",
        )
    if resource.get("setOwnerReference") is True:
        found.add(
            (*at, "resource", "setOwnerReference"),
            "is true",
            "a service must outlive the workflow: leave it unowned",
        )
    manifest = resource.get("manifest")
    try:
        objects = (
            [o for o in yaml.safe_load_all(manifest) if o is not None]
            if isinstance(manifest, str)
            else []
        )
    except yaml.YAMLError as exc:
        found.add((*at, "resource", "manifest"), f"is not YAML ({type(exc).__name__})")
        return
    if len(objects) != 1:
        found.add(
            (*at, "resource", "manifest"),
            f"holds {len(objects)} objects",
            "one object per resource template",
        )
        return
    obj = objects[0]
    if not isinstance(obj, dict) or not all(k in obj for k in ("apiVersion", "kind", "metadata")):
        found.add(
            (*at, "resource", "manifest"),
            "is not a Kubernetes object",
            "apiVersion, kind and metadata.name",
        )


def _check_dag(dag: Any, at: Path, found: _Findings, templates: dict[str, Manifest]) -> None:
    tasks = _named(dag.get("tasks")) if isinstance(dag, dict) else []
    if not tasks:
        found.add((*at, "tasks"), "is missing or empty")
        return
    names = [t.get("name") for _, t in tasks]
    for name, count in Counter(names).items():
        if count > 1:
            found.add((*at, "tasks"), f"task '{name}' is defined {count} times")
    known = {n for n in names if isinstance(n, str)}
    graph: dict[str, set[str]] = {}
    for i, task in tasks:
        path = (*at, "tasks", i)
        _check_field_name(task.get("name"), (*path, "name"), found)
        template = task.get("template")
        if template not in templates:
            found.add(
                (*path, "template"),
                f"names no template: {template!r}",
                did_you_mean(str(template), templates),
            )
        else:
            _check_task_arguments(task, templates[template], path, found)
        if "depends" in task and "dependencies" in task:
            found.add(path, "has depends and dependencies", "Argo takes one: keep depends")
        names_used = _depends_names(task.get("depends"), (*path, "depends"), found)
        for name in names_used:
            if name not in known:
                found.add(
                    (*path, "depends"),
                    f"names no task of this DAG: '{name}'",
                    did_you_mean(name, known),
                )
        graph[str(task.get("name"))] = {n for n in names_used if n in known}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(str(n) for n in exc.args[1])
        found.add((*at, "tasks"), f"the tasks depend on each other in a cycle: {cycle}")


def _depends_names(depends: Any, at: Path, found: _Findings) -> list[str]:
    if depends is None:
        return []
    if not isinstance(depends, str):
        found.add(at, f"{depends!r} is not an expression", "e.g. 'prepare && train.Succeeded'")
        return []
    names: list[str] = []
    for token in _DEPENDS_TOKEN.findall(depends):
        if token in ("&&", "||", "!", "(", ")"):
            continue
        name, dot, result = token.partition(".")
        if dot and result not in _TASK_RESULTS:
            found.add(
                at,
                f"'{token}': {result!r} is not a task result",
                did_you_mean(result, _TASK_RESULTS) or ", ".join(_TASK_RESULTS),
            )
        names.append(name)
    return names


def _check_task_arguments(task: Manifest, template: Manifest, at: Path, found: _Findings) -> None:
    """Every input parameter without a default is given by the task."""
    arguments = task.get("arguments")
    given = set()
    if isinstance(arguments, dict):
        given = {str(p.get("name")) for _, p in _named(arguments.get("parameters"))}
    inputs = template.get("inputs")
    wanted = _named(inputs.get("parameters")) if isinstance(inputs, dict) else []
    for _, parameter in wanted:
        name = str(parameter.get("name"))
        if name not in given and "value" not in parameter and "default" not in parameter:
            found.add(
                (*at, "arguments"),
                f"gives no value for the input parameter '{name}' "
                f"of template '{template.get('name')}'",
            )


def _strings(value: Any, at: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*at, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*at, i))


def _check_variables(
    text: str, at: Path, found: _Findings, parameters: set[str], inputs: set[str]
) -> None:
    for match in _VARIABLE.finditer(text):
        variable = match.group(1)
        scope, _, name = variable.rpartition(".")
        if scope == "workflow.parameters":
            if name not in parameters:
                found.add(
                    at,
                    f"'{{{{{variable}}}}}' names no workflow parameter",
                    did_you_mean(name, parameters) or "declare it in spec.arguments.parameters",
                )
        elif scope == "inputs.parameters":
            if name not in inputs:
                found.add(
                    at,
                    f"'{{{{{variable}}}}}' names no input of its template",
                    did_you_mean(name, inputs) or "declare it in the template's inputs.parameters",
                )
        elif variable not in _GLOBALS:
            found.add(
                at,
                f"'{{{{{variable}}}}}' is not a variable the export writes",
                "Argo would try to fill it in",
            )
