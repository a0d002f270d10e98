"""The stage workloads: a Job per attempt of a batch stage, a Deployment per service version."""

from __future__ import annotations

import math

from bodywork_jupyter.plan.kubernetes.checks import (
    require_batch,
    require_git_source,
    require_service,
)
from bodywork_jupyter.plan.kubernetes.labels import (
    LABEL_ATTEMPT,
    metadata,
    selector,
    stage_annotations,
    stage_labels,
    template,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.names import deployment_name, job_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions, OwnerReference
from bodywork_jupyter.plan.kubernetes.pods import stage_pod_spec
from bodywork_jupyter.plan.model import Plan, PlannedStage


def deadline_seconds(timeout: float | None, options: KubernetesOptions) -> int | None:
    """An attempt's deadline: the stage timeout plus the grace the engine gives the runner
    to stop itself (None: no timeout). The Argo export's per-attempt deadline too."""
    if timeout is None:
        return None
    return max(1, math.ceil(timeout + options.deadline_grace_seconds))


def job(
    plan: Plan,
    stage: PlannedStage,
    *,
    run_id: str,
    attempt: int,
    options: KubernetesOptions,
    owner: OwnerReference | None = None,
) -> Manifest:
    """A batch/v1 Job for ONE attempt of a batch stage (or of the run_on_failure stage).

    ``backoffLimit: 0``: the engine owns retries and their backoff, each attempt is a Job
    of its own. ``activeDeadlineSeconds`` is the stage timeout plus the grace the engine
    gives the runner to stop itself. Finished Jobs stay ``job_ttl_seconds`` (a week by
    default) so their pods' logs can still be read.
    """
    require_git_source(plan)
    require_batch(stage)
    if attempt < 1:
        raise ValueError(f"attempt {attempt}: attempts count from 1")
    labels = {**stage_labels(plan, stage, options, run_id), LABEL_ATTEMPT: str(attempt)}
    annotations = stage_annotations(plan, stage)
    spec: Manifest = {"backoffLimit": 0}
    deadline = deadline_seconds(stage.timeout_seconds, options)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    spec["ttlSecondsAfterFinished"] = options.job_ttl_seconds
    pod = stage_pod_spec(
        plan, stage, options, run_id=run_id, attempt=attempt, restart_policy="Never"
    )
    spec["template"] = template(labels, annotations, pod)
    name = job_name(plan, stage, run_id, attempt)
    return k8s_object(
        "batch/v1",
        "Job",
        metadata(name, options.namespace, labels, annotations, owner),
        spec=spec,
    )


def deployment(
    plan: Plan,
    stage: PlannedStage,
    *,
    run_id: str,
    options: KubernetesOptions,
    owner: OwnerReference | None = None,
) -> Manifest:
    """An apps/v1 Deployment: one version (one run) of a service stage.

    Named ``<stage>-<short run id>`` so a new version runs beside the old one; the
    Service's selector chooses which one takes traffic. Within a version the rolling
    update never goes below the ready count (``maxUnavailable: 0``).
    ``progressDeadlineSeconds`` is the stage timeout (the longest it may take to be
    ready) plus the grace, so the Deployment's ``Progressing`` condition says when.
    """
    require_git_source(plan)
    service = require_service(stage)
    labels = stage_labels(plan, stage, options, run_id)
    annotations = stage_annotations(plan, stage)
    spec: Manifest = {
        "replicas": service.replicas,
        "selector": {"matchLabels": selector(plan, stage, run_id)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
    }
    deadline = deadline_seconds(stage.timeout_seconds, options)
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    pod = stage_pod_spec(
        plan,
        stage,
        options,
        run_id=run_id,
        attempt=1,
        restart_policy="Always",
        listen_port=service.port,
    )
    spec["template"] = template(labels, annotations, pod)
    name = deployment_name(stage, run_id)
    return k8s_object(
        "apps/v1",
        "Deployment",
        metadata(name, options.namespace, labels, annotations, owner),
        spec=spec,
    )
