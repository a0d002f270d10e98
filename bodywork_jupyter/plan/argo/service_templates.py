"""A service stage: ``resource`` templates applying the Kubernetes target's own Deployment,
Service (and Ingress), then a bounded wait for the rollout, in a DAG of their own.

The objects are the ones ``plan.kubernetes`` renders, one per template (Argo applies one
object per resource template), with ``action: apply`` (a retried ``create`` would fail
with AlreadyExists) and no owner reference: the service outlives the workflow that
deployed it, as a deployment does on the other targets. Every run applies the same
version, named for ``SERVICE_RUN_ID``: a new commit rolls the Deployment over (its pods
never fewer than ready: ``maxUnavailable: 0``), the same commit changes nothing. Rollout
is not something a ``successCondition`` can tell reliably, so a container runs ``kubectl
rollout status`` with a timeout (the stage timeout plus grace, else a Deployment's default
progress deadline), and every template is bounded (``timeout``, ``activeDeadlineSeconds``).
"""

from __future__ import annotations

from bodywork_jupyter.plan.argo.names import part_template_name
from bodywork_jupyter.plan.argo.options import DEFAULT_ROLLOUT_SECONDS, ArgoOptions
from bodywork_jupyter.plan.argo.pod_templates import pod_template_fields
from bodywork_jupyter.plan.argo.stage_templates import pod_metadata
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import deployment_name
from bodywork_jupyter.plan.kubernetes.networking import ingress, service
from bodywork_jupyter.plan.kubernetes.pods import TMP_MOUNT, WORK_MOUNT, pod_spec
from bodywork_jupyter.plan.kubernetes.render import to_yaml
from bodywork_jupyter.plan.kubernetes.workloads import deadline_seconds, deployment
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: The one version of each service an Argo export deploys (``<stage>-argo``, selected by
#: the run label ``argo``): every run applies it again.
SERVICE_RUN_ID = "argo"
#: Applying one object takes seconds; this bounds a node stuck in Pending.
APPLY_TIMEOUT = "5m"
#: The wait's pod gets this long beyond its ``kubectl --timeout`` to start and report.
WAIT_SLACK_SECONDS = 60


def rollout_seconds(stage: PlannedStage, options: ArgoOptions) -> int:
    deadline = deadline_seconds(stage.timeout_seconds, options.kubernetes)
    return DEFAULT_ROLLOUT_SECONDS if deadline is None else deadline


def _apply_template(name: str, obj: Manifest, metadata: Manifest) -> Manifest:
    return {
        "name": name,
        "metadata": metadata,
        "timeout": APPLY_TIMEOUT,
        "resource": {"action": "apply", "setOwnerReference": False, "manifest": to_yaml([obj])},
    }


def _wait_template(
    plan: Plan, stage: PlannedStage, options: ArgoOptions, name: str, metadata: Manifest
) -> Manifest:
    seconds = rollout_seconds(stage, options)
    command = [
        "kubectl",
        "rollout",
        "status",
        f"deployment/{deployment_name(stage, SERVICE_RUN_ID)}",
        f"--namespace={options.namespace}",
        f"--timeout={seconds}s",
    ]
    # kubectl keeps its cache under HOME: the pod's writable emptyDir, as a stage's
    pod = pod_spec(
        plan,
        options.kubernetes,
        {
            "image": options.kubectl_image,
            "command": command,
            "env": [{"name": "HOME", "value": TMP_MOUNT}],
        },
        volume={"name": "work", "emptyDir": {}},
        mount={"name": "work", "mountPath": WORK_MOUNT},
        restart_policy="Never",
        service_account=options.service_account,
        token=True,
    )
    container, fields = pod_template_fields(pod)
    return {
        "name": name,
        "metadata": metadata,
        "activeDeadlineSeconds": str(seconds + WAIT_SLACK_SECONDS),
        "timeout": f"{seconds + 2 * WAIT_SLACK_SECONDS}s",
        "container": container,
        **fields,
    }


def service_templates(
    plan: Plan, stage: PlannedStage, options: ArgoOptions, *, name: str
) -> list[Manifest]:
    """The stage's DAG template (named ``name``), then the templates its tasks run."""
    k8s = options.kubernetes
    objects = [
        ("deployment", deployment(plan, stage, run_id=SERVICE_RUN_ID, options=k8s)),
        ("service", service(plan, stage, run_id=SERVICE_RUN_ID, options=k8s)),
    ]
    routed = ingress(plan, stage, k8s)
    if routed is not None:
        objects.append(("ingress", routed))
    metadata = pod_metadata(plan, stage, options)
    parts = [_apply_template(part_template_name(stage, p), obj, metadata) for p, obj in objects]
    wait = _wait_template(plan, stage, options, part_template_name(stage, "rollout"), metadata)
    tasks: list[Manifest] = [
        {"name": p, "template": t["name"]} for (p, _), t in zip(objects, parts, strict=True)
    ]
    tasks.append({"name": "rollout", "template": wait["name"], "depends": "deployment"})
    return [{"name": name, "dag": {"tasks": tasks}}, *parts, wait]
