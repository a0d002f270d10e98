"""A schedule on the cluster: the plan in a ConfigMap and a CronJob running the controller."""

from __future__ import annotations

from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.kubernetes.labels import (
    ANNOTATION_PIPELINE,
    LABEL_COMPONENT,
    common_labels,
    metadata,
    template,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.names import cronjob_name, plan_config_map_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions
from bodywork_jupyter.plan.kubernetes.pods import TMP_MOUNT, pod_spec
from bodywork_jupyter.plan.model import Plan

#: The in-cluster controller's entry point (issue 9 part 2 writes it).
CONTROLLER_COMMAND = ("bodywork", "controller", "run")
#: Where the CronJob's controller finds the plan (a ConfigMap mounted read-only).
PLAN_MOUNT = "/etc/bodywork"
PLAN_KEY = "plan.json"


def plan_config_map(plan: Plan, *, options: KubernetesOptions) -> Manifest:
    """A v1 ConfigMap holding the plan as JSON: what a scheduled controller runs.

    One per pipeline: a deploy replaces it, so the schedule always runs the plan deployed
    last (its source is pinned to a commit, like every plan's).
    """
    require_git_source(plan)
    labels = {**common_labels(plan, options), LABEL_COMPONENT: "plan"}
    return k8s_object(
        "v1",
        "ConfigMap",
        metadata(
            plan_config_map_name(plan),
            options.namespace,
            labels,
            {ANNOTATION_PIPELINE: plan.pipeline},
        ),
        data={PLAN_KEY: plan.model_dump_json(indent=1)},
    )


def controller_command(plan: Plan, options: KubernetesOptions) -> list[str]:
    """The in-cluster controller's command line for a scheduled run.

    ``bodywork controller run`` does not exist yet: issue 9 part 2 writes it, with this
    command line: the plan as a file (the ConfigMap of ``plan_config_map``, mounted),
    and the namespace it drives. Without ``--run-id`` it records a new run.
    """
    return [
        *CONTROLLER_COMMAND,
        "--namespace",
        options.namespace,
        "--plan",
        f"{PLAN_MOUNT}/{PLAN_KEY}",
    ]


def cronjob(plan: Plan, *, options: KubernetesOptions, image: str) -> Manifest | None:
    """A batch/v1 CronJob when the plan has a ``schedule``, else None.

    Each scheduled Job runs the controller (``controller_command``) under the controller's
    service account, reading the plan from ``plan_config_map``. ``concurrencyPolicy:
    Forbid``: a run still going when the next is due makes the next one skip. The
    schedule is read in UTC (``timeZone: Etc/UTC``), whatever the cluster's local time.
    The Job may restart its controller pod (``backoffLimit: 3``): the controller resumes
    from its run record.
    """
    if not plan.schedule:
        return None
    require_git_source(plan)
    labels = {**common_labels(plan, options), LABEL_COMPONENT: "controller"}
    annotations = {ANNOTATION_PIPELINE: plan.pipeline}
    container: Manifest = {
        "name": "controller",
        "image": image,
        "command": controller_command(plan, options),
        "env": [{"name": "HOME", "value": TMP_MOUNT}, {"name": "TMPDIR", "value": TMP_MOUNT}],
    }
    pod = pod_spec(
        options,
        container,
        volume={"name": "plan", "configMap": {"name": plan_config_map_name(plan)}},
        mount={"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
        restart_policy="Never",
        service_account=options.controller_service_account,
        # the controller talks to the API server: it is the one pod that gets a token
        token=True,
    )
    return k8s_object(
        "batch/v1",
        "CronJob",
        metadata(cronjob_name(plan), options.namespace, labels, annotations),
        spec={
            "schedule": plan.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": template(
                labels,
                annotations,
                {"backoffLimit": 3, "template": template(labels, annotations, pod)},
            ),
        },
    )
