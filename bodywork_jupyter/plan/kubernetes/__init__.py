"""Plan -> Kubernetes objects, as plain dicts ready for ``yaml.safe_dump`` or the API.

Pure like the rest of ``plan/``: no cluster, no client library, no I/O. Each function
renders one object (or a few) for one stage or the whole plan; the Kubernetes backend
decides when to create which. docs/reference/kubernetes-objects.md describes every object,
its name and labels, and the RBAC rules.

Each decision is kept in one module: ``quantities`` (units), ``names`` (DNS-1123 names,
cut with a hash), ``labels`` (labels, annotations, metadata), ``pods`` (the container, its
env and the locked-down pod), ``workloads`` (Job, Deployment), ``networking`` (Service,
Ingress), ``schedule`` (the controller's Job; the plan's ConfigMap, the CronJob),
``access`` (Namespace and RBAC), ``render`` (a whole run, YAML); ``options`` holds what
the cluster side decides.
"""

from bodywork_jupyter.plan.kubernetes.access import rbac
from bodywork_jupyter.plan.kubernetes.labels import (
    ANNOTATION_PIPELINE,
    ANNOTATION_STAGE,
    APP,
    LABEL_ATTEMPT,
    LABEL_COMMIT,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_RUN,
    LABEL_STAGE,
    LABEL_VERSION,
    common_labels,
    label_value,
    selector,
    stage_labels,
)
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import (
    CRONJOB_NAME_LIMIT,
    NAME_LIMIT,
    cronjob_name,
    deploy_namespace,
    deployment_name,
    job_name,
    k8s_object_name,
    plan_config_map_name,
    service_name,
    short_run_id,
)
from bodywork_jupyter.plan.kubernetes.networking import ingress, ingress_path, service
from bodywork_jupyter.plan.kubernetes.options import (
    CONTROLLER_SERVICE_ACCOUNT,
    DEFAULT_DEADLINE_GRACE_SECONDS,
    DEFAULT_JOB_TTL_SECONDS,
    DEFAULT_UID,
    STAGE_SERVICE_ACCOUNT,
    KubernetesOptions,
    OwnerReference,
)
from bodywork_jupyter.plan.kubernetes.pods import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    GIT_CREDENTIAL_ENVS,
    RUNNER_COMMAND,
    SPEC_ENV,
    TMP_MOUNT,
    WORK_DIR,
    WORK_MOUNT,
)
from bodywork_jupyter.plan.kubernetes.quantities import cpu_quantity, memory_quantity, resources
from bodywork_jupyter.plan.kubernetes.render import render_plan, to_yaml
from bodywork_jupyter.plan.kubernetes.schedule import (
    CONTROLLER_BACKOFF_LIMIT,
    CONTROLLER_COMMAND,
    CONTROLLER_JOB_ENV,
    PLAN_KEY,
    PLAN_MOUNT,
    controller_command,
    controller_job,
    controller_job_name,
    cronjob,
    plan_config_map,
)
from bodywork_jupyter.plan.kubernetes.workloads import deadline_seconds, deployment, job

__all__ = [
    "ANNOTATION_PIPELINE",
    "ANNOTATION_STAGE",
    "APP",
    "ARTIFACTS_DIR",
    "CACHE_DIR",
    "CONTROLLER_BACKOFF_LIMIT",
    "CONTROLLER_COMMAND",
    "CONTROLLER_JOB_ENV",
    "CONTROLLER_SERVICE_ACCOUNT",
    "CRONJOB_NAME_LIMIT",
    "DEFAULT_DEADLINE_GRACE_SECONDS",
    "DEFAULT_JOB_TTL_SECONDS",
    "DEFAULT_UID",
    "GIT_CREDENTIAL_ENVS",
    "LABEL_ATTEMPT",
    "LABEL_COMMIT",
    "LABEL_COMPONENT",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_PART_OF",
    "LABEL_RUN",
    "LABEL_STAGE",
    "LABEL_VERSION",
    "NAME_LIMIT",
    "PLAN_KEY",
    "PLAN_MOUNT",
    "RUNNER_COMMAND",
    "SPEC_ENV",
    "STAGE_SERVICE_ACCOUNT",
    "TMP_MOUNT",
    "WORK_DIR",
    "WORK_MOUNT",
    "KubernetesOptions",
    "Manifest",
    "OwnerReference",
    "common_labels",
    "controller_command",
    "controller_job",
    "controller_job_name",
    "cpu_quantity",
    "cronjob",
    "cronjob_name",
    "deadline_seconds",
    "deploy_namespace",
    "deployment",
    "deployment_name",
    "ingress",
    "ingress_path",
    "job",
    "job_name",
    "k8s_object_name",
    "label_value",
    "memory_quantity",
    "plan_config_map",
    "plan_config_map_name",
    "rbac",
    "render_plan",
    "resources",
    "selector",
    "service",
    "service_name",
    "short_run_id",
    "stage_labels",
    "to_yaml",
]
