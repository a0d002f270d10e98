"""The workflow's spec, and the three kinds that carry it.

``spec``: the entrypoint DAG (a task per stage, ``depends`` naming the stages it waits for),
a template per stage (a service's is a DAG of its own), the pipeline's notebook parameters
as ``arguments``, ``run_on_failure`` as the exit handler (``onExit``: it runs only when the
workflow did not succeed, with Argo's ``{{workflow.failures}}`` as ``BODYWORK_FAILURE``),
the service account, ``ttlStrategy`` (finished workflows stay as long as finished Jobs do
on the Kubernetes target) and ``podGC`` (a failed workflow's pods stay for their logs).
"""

from __future__ import annotations

from collections import Counter

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.argo.names import (
    ENTRYPOINT,
    EXIT_HANDLER,
    cron_workflow_name,
    generate_name,
    stage_template_name,
    workflow_template_name,
)
from bodywork_jupyter.plan.argo.options import API_VERSION, ArgoOptions
from bodywork_jupyter.plan.argo.parameters import (
    arguments,
    substituted,
    with_sentinels,
    workflow_parameters,
)
from bodywork_jupyter.plan.argo.service_templates import service_templates
from bodywork_jupyter.plan.argo.stage_templates import container_template
from bodywork_jupyter.plan.kubernetes.labels import (
    ANNOTATION_PIPELINE,
    LABEL_COMPONENT,
    common_labels,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, plain
from bodywork_jupyter.plan.kubernetes.pods import image_pull_secrets
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: The input through which the exit handler hands ``{{workflow.failures}}`` to its stage.
FAILURES_INPUT = "failures"
FAILURE_ENV = "BODYWORK_FAILURE"


def _task(plan: Plan, stage: PlannedStage) -> Manifest:
    task: Manifest = {"name": stage_template_name(stage), "template": stage_template_name(stage)}
    if stage.depends_on:
        # a bare task name is "it succeeded (or was skipped)": each dependency must be done
        task["depends"] = " && ".join(plan.stages[d].k8s_name for d in stage.depends_on)
    return task


def _stage_templates(plan: Plan, stage: PlannedStage, options: ArgoOptions) -> list[Manifest]:
    name = stage_template_name(stage)
    if stage.service is not None:
        return service_templates(plan, stage, options, name=name)
    return [container_template(plan, stage, options, name=name)]


def _exit_templates(plan: Plan, stage: PlannedStage, options: ArgoOptions) -> list[Manifest]:
    name = stage_template_name(stage)
    handler: Manifest = {
        "name": EXIT_HANDLER,
        "dag": {
            "tasks": [
                {
                    "name": name,
                    "template": name,
                    "when": "{{workflow.status}} != Succeeded",
                    "arguments": {
                        "parameters": [{"name": FAILURES_INPUT, "value": "{{workflow.failures}}"}]
                    },
                }
            ]
        },
    }
    runner = container_template(
        plan,
        stage,
        options,
        name=name,
        inputs={"parameters": [{"name": FAILURES_INPUT}]},
        extra_env={FAILURE_ENV: "{{inputs.parameters." + FAILURES_INPUT + "}}"},
    )
    return [handler, runner]


def _refuse_clashes(templates: list[tuple[str, Manifest]]) -> None:
    counts = Counter(t["name"] for _, t in templates)
    for name, count in counts.items():
        if count > 1:
            owners = sorted({owner for owner, t in templates if t["name"] == name})
            raise BadInputError(
                f"the Argo template name '{name}' would be used {count} times (by "
                f"{', '.join(owners)}) - rename a stage so its name does not end like "
                "another's service steps (-deployment, -service, -ingress, -rollout)"
            )


def workflow_spec(plan: Plan, options: ArgoOptions) -> Manifest:
    """The spec a Workflow and a WorkflowTemplate share."""
    parameters = workflow_parameters(plan)
    sentinel_plan = with_sentinels(plan, parameters)
    stages = [sentinel_plan.stages[name] for name in plan.order]
    owned: list[tuple[str, Manifest]] = [
        ("the pipeline", {"name": ENTRYPOINT, "dag": {"tasks": [_task(plan, s) for s in stages]}})
    ]
    for stage in stages:
        owned += [
            (f"stage {stage.name}", t) for t in _stage_templates(sentinel_plan, stage, options)
        ]
    on_failure = sentinel_plan.run_on_failure
    if on_failure is not None:
        owned += [
            (f"stage {on_failure.name}", t)
            for t in _exit_templates(sentinel_plan, on_failure, options)
        ]
    _refuse_clashes(owned)
    spec: Manifest = {"entrypoint": ENTRYPOINT}
    given = arguments(parameters)
    if given is not None:
        spec["arguments"] = given
    spec["serviceAccountName"] = options.service_account
    pull_secrets = image_pull_secrets(plan, options.kubernetes)
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    if on_failure is not None:
        spec["onExit"] = EXIT_HANDLER
    spec["ttlStrategy"] = {"secondsAfterCompletion": options.kubernetes.job_ttl_seconds}
    spec["podGC"] = {"strategy": "OnWorkflowSuccess"}
    spec["templates"] = [substituted(t, parameters) for _, t in owned]
    return spec


def _metadata(plan: Plan, options: ArgoOptions, component: str, **name: str) -> Manifest:
    return {
        **name,
        "namespace": options.namespace,
        "labels": {**common_labels(plan, options.kubernetes), LABEL_COMPONENT: component},
        "annotations": {ANNOTATION_PIPELINE: plan.pipeline},
    }


def _argo_object(kind: str, metadata: Manifest, spec: Manifest) -> Manifest:
    return plain({"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec})


def workflow(plan: Plan, options: ArgoOptions) -> Manifest:
    """A Workflow: one run, named by Argo from ``<pipeline>-`` (submit it as often as you like)."""
    metadata = _metadata(plan, options, "workflow", generateName=generate_name(plan))
    return _argo_object("Workflow", metadata, workflow_spec(plan, options))


def workflow_template(plan: Plan, options: ArgoOptions) -> Manifest:
    """A WorkflowTemplate named like the pipeline: ``argo submit --from workflowtemplate/NAME``."""
    metadata = _metadata(plan, options, "workflow-template", name=workflow_template_name(plan))
    return _argo_object("WorkflowTemplate", metadata, workflow_spec(plan, options))


def cron_workflow(plan: Plan, options: ArgoOptions) -> Manifest:
    """A CronWorkflow running the WorkflowTemplate on the pipeline's schedule.

    As the Kubernetes target's CronJob: read in UTC, a run still going makes the next one
    skip (``Forbid``), three finished runs of each outcome kept.
    """
    if not plan.schedule:
        raise BadInputError(
            f"pipeline {plan.pipeline} has no schedule, so there is no CronWorkflow to export "
            "- add pipeline.schedule to bodywork.yaml, or export --kind workflow or template"
        )
    metadata = _metadata(plan, options, "cron-workflow", name=cron_workflow_name(plan))
    spec: Manifest = {
        "schedules": [plan.schedule],
        "timezone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "workflowSpec": {"workflowTemplateRef": {"name": workflow_template_name(plan)}},
    }
    return _argo_object("CronWorkflow", metadata, spec)
