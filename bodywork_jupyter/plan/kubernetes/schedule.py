"""The in-cluster controller's workloads: a Job per deployed run, and for a schedule the
plan in a ConfigMap and a CronJob running the controller."""

from __future__ import annotations

from bodywork_jupyter.plan.kubernetes.checks import require_git_source
from bodywork_jupyter.plan.kubernetes.labels import (
    ANNOTATION_PIPELINE,
    LABEL_COMPONENT,
    LABEL_RUN,
    common_labels,
    label_value,
    metadata,
    template,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.names import (
    cronjob_name,
    k8s_object_name,
    plan_config_map_name,
    short_run_id,
)
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions
from bodywork_jupyter.plan.kubernetes.pods import TMP_MOUNT, WORK_MOUNT, pod_spec
from bodywork_jupyter.plan.model import Plan

#: The label the Job controller puts on a Job's pods: the Job's name.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

#: The in-cluster controller's entry point (``backends/kubernetes/controller.py``).
CONTROLLER_COMMAND = ("bodywork-controller",)
#: Where the CronJob's controller finds the plan (a ConfigMap mounted read-only).
PLAN_MOUNT = "/etc/bodywork"
PLAN_KEY = "plan.json"
#: The env variable that tells a controller its own Job's name (from its pod's label).
CONTROLLER_JOB_ENV = "BODYWORK_CONTROLLER_JOB"
#: A controller pod that is killed (or fails) is replaced this many times; it resumes
#: from its run record.
CONTROLLER_BACKOFF_LIMIT = 6


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


def controller_command(
    plan: Plan, options: KubernetesOptions, run_id: str | None = None
) -> list[str]:
    """The in-cluster controller's command line.

    With ``run_id`` it drives that run (recorded by ``bodywork deploy``); without, it is a
    scheduled run: it records a new run of the plan in the file (the ConfigMap of
    ``plan_config_map``, mounted), then drives it.
    """
    command = [*CONTROLLER_COMMAND, "--namespace", options.namespace]
    if run_id is not None:
        return [*command, "--run", run_id]
    return [*command, "--plan", f"{PLAN_MOUNT}/{PLAN_KEY}"]


def controller_job_name(plan: Plan, run_id: str) -> str:
    return k8s_object_name(plan.k8s_name, "controller", short_run_id(run_id))


def _controller_container(command: list[str], image: str) -> Manifest:
    return {
        "name": "controller",
        "image": image,
        "command": command,
        "env": [
            {"name": "HOME", "value": TMP_MOUNT},
            {"name": "TMPDIR", "value": TMP_MOUNT},
            {
                "name": CONTROLLER_JOB_ENV,
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}},
            },
        ],
    }


def _controller_pod(
    plan: Plan,
    options: KubernetesOptions,
    container: Manifest,
    volume: Manifest,
    mount: Manifest,
) -> Manifest:
    return pod_spec(
        plan,
        options,
        container,
        volume=volume,
        mount=mount,
        restart_policy="Never",
        service_account=options.controller_service_account,
        # the controller talks to the API server: it is the one pod that gets a token
        token=True,
    )


def controller_job(plan: Plan, run_id: str, *, options: KubernetesOptions, image: str) -> Manifest:
    """A batch/v1 Job running the controller for one run that ``bodywork deploy`` recorded.

    The controller runs the engine in the cluster (so the run goes on when the laptop
    sleeps), under the controller's service account. A pod that is killed or fails is
    replaced (``backoffLimit``) and resumes from the run's record; the controller itself
    exits 0 whenever it recorded the run's outcome. The finished Job (and its pod, hence
    the controller's log) stays ``job_ttl_seconds``. Its scratch space is an emptyDir.
    """
    require_git_source(plan)
    labels = {
        **common_labels(plan, options),
        LABEL_COMPONENT: "controller",
        LABEL_RUN: label_value(run_id),
    }
    annotations = {ANNOTATION_PIPELINE: plan.pipeline}
    container = _controller_container(controller_command(plan, options, run_id), image)
    pod = _controller_pod(
        plan,
        options,
        container,
        {"name": "work", "emptyDir": {}},
        {"name": "work", "mountPath": WORK_MOUNT},
    )
    return k8s_object(
        "batch/v1",
        "Job",
        metadata(controller_job_name(plan, run_id), options.namespace, labels, annotations),
        spec={
            "backoffLimit": CONTROLLER_BACKOFF_LIMIT,
            "ttlSecondsAfterFinished": options.job_ttl_seconds,
            "template": template(labels, annotations, pod),
        },
    )


def cronjob(plan: Plan, *, options: KubernetesOptions, image: str) -> Manifest | None:
    """A batch/v1 CronJob when the plan has a ``schedule``, else None.

    Each scheduled Job runs the controller (``controller_command`` without a run: it
    records a new run) under the controller's service account, reading the plan from
    ``plan_config_map``. ``concurrencyPolicy: Forbid``: a run still going when the next is
    due makes the next one skip. The schedule is read in UTC (``timeZone: Etc/UTC``),
    whatever the cluster's local time. The Job may replace its controller pod
    (``backoffLimit``): the controller resumes from its run record.
    """
    if not plan.schedule:
        return None
    require_git_source(plan)
    labels = {**common_labels(plan, options), LABEL_COMPONENT: "controller"}
    annotations = {ANNOTATION_PIPELINE: plan.pipeline}
    container = _controller_container(controller_command(plan, options), image)
    pod = _controller_pod(
        plan,
        options,
        container,
        {"name": "plan", "configMap": {"name": plan_config_map_name(plan)}},
        {"name": "plan", "mountPath": PLAN_MOUNT, "readOnly": True},
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
                {
                    "backoffLimit": CONTROLLER_BACKOFF_LIMIT,
                    "template": template(labels, annotations, pod),
                },
            ),
        },
    )
