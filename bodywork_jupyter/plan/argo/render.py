"""Plan -> the Argo objects of one export, and the notes a person should read with them."""

from __future__ import annotations

from bodywork_jupyter.plan.argo.options import ArgoOptions
from bodywork_jupyter.plan.argo.retries import whole_factor
from bodywork_jupyter.plan.argo.variables import refuse_argo_variables
from bodywork_jupyter.plan.argo.workflow import cron_workflow, workflow, workflow_template
from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.model import Plan


def render_argo(plan: Plan, options: ArgoOptions) -> list[Manifest]:
    """``[Workflow]``, ``[WorkflowTemplate]`` or ``[WorkflowTemplate, CronWorkflow]``.

    The plan must be pinned to a commit of a git repository (every stage fetches its
    code from there, as on the Kubernetes target) and hold no ``{{`` (Argo's variables).
    """
    require_git_source(plan)
    refuse_argo_variables(plan)
    if options.kind == "workflow":
        return [workflow(plan, options)]
    if options.kind == "template":
        return [workflow_template(plan, options)]
    cron = cron_workflow(plan, options)  # first: a plan without a schedule is refused
    return [workflow_template(plan, options), cron]


def export_notes(plan: Plan, options: ArgoOptions) -> list[str]:
    """What the export does differently from the pipeline as written."""
    notes: list[str] = []
    if plan.schedule and options.kind != "cron":
        notes.append(
            f"pipeline {plan.pipeline} has the schedule '{plan.schedule}': a {options.kind} "
            "runs when submitted - export --kind cron for a CronWorkflow"
        )
    stages = [*plan.stages.values(), *([plan.run_on_failure] if plan.run_on_failure else [])]
    for stage in stages:
        retries = stage.retries
        if (
            stage.kind == "batch"
            and retries.count
            and whole_factor(retries) != retries.backoff_factor
        ):
            notes.append(
                f"stage {stage.name}: Argo's backoff factor is a whole number, "
                f"{retries.backoff_factor:g} becomes {whole_factor(retries)}"
            )
    return notes
