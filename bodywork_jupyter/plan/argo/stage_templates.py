"""One container template per batch stage (and for ``run_on_failure``).

The container is the Kubernetes target's stage container (``plan.kubernetes.pods``): the
runner's console script as the explicit command, its spec in ``BODYWORK_STAGE_SPEC`` (the
code fetched from git at the plan's pinned commit by the runner itself, as in a Job),
requirements, resources and GPUs, env and ``secretKeyRef`` secrets. The spec's run id is
the workflow's name; the executed notebook is not sent in the log (Argo keeps logs, not
our events). Per attempt: ``activeDeadlineSeconds`` (the stage timeout plus the grace the
Kubernetes Jobs get, else the export's default) and the stage's ``retryStrategy``. The
container mounts no service account token (the executor's containers get it).
"""

from __future__ import annotations

from collections.abc import Mapping

from bodywork_jupyter.plan.argo.options import ArgoOptions
from bodywork_jupyter.plan.argo.pod_templates import pod_template_fields
from bodywork_jupyter.plan.argo.retries import retry_strategy
from bodywork_jupyter.plan.kubernetes.labels import stage_annotations, stage_labels
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.pods import stage_pod_spec
from bodywork_jupyter.plan.kubernetes.workloads import deadline_seconds
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: Each workflow is one run: its name is the run id the runner reports.
WORKFLOW_RUN_ID = "{{workflow.name}}"


def attempt_deadline(stage: PlannedStage, options: ArgoOptions) -> int:
    """Seconds one attempt may run: as a Kubernetes Job's deadline, else the default."""
    deadline = deadline_seconds(stage.timeout_seconds, options.kubernetes)
    return options.default_deadline_seconds if deadline is None else deadline


def pod_metadata(plan: Plan, stage: PlannedStage, options: ArgoOptions) -> Manifest:
    """The labels and annotations a stage's pods carry, as on the Kubernetes target."""
    return {
        "labels": stage_labels(plan, stage, options.kubernetes),
        "annotations": stage_annotations(plan, stage),
    }


def container_template(
    plan: Plan,
    stage: PlannedStage,
    options: ArgoOptions,
    *,
    name: str,
    inputs: Manifest | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Manifest:
    """The template running one batch stage. ``extra_env`` is added to the container (and
    not to the spec: Argo fills it in, e.g. ``{{inputs.parameters.failures}}``)."""
    pod = stage_pod_spec(
        plan,
        stage,
        options.kubernetes,
        run_id=WORKFLOW_RUN_ID,
        attempt=1,
        restart_policy="Never",
        emit_notebook=False,
    )
    container, fields = pod_template_fields(pod)
    if extra_env:
        container["env"] = [
            *container["env"],
            *({"name": k, "value": v} for k, v in extra_env.items()),
        ]
    template: Manifest = {"name": name}
    if inputs:
        template["inputs"] = inputs
    template["metadata"] = pod_metadata(plan, stage, options)
    retries = retry_strategy(stage.retries)
    if retries is not None:
        template["retryStrategy"] = retries
    template["activeDeadlineSeconds"] = str(attempt_deadline(stage, options))
    template["container"] = container
    template.update(fields)
    # the stage's code gets no token, as on the Kubernetes target: only Argo's executor
    # (its init and wait containers) gets the account's, to report the step's result
    template["automountServiceAccountToken"] = False
    template["executor"] = {"serviceAccountName": options.service_account}
    return template
