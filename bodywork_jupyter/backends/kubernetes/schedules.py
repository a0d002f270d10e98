"""Schedules on a cluster: our CronJobs (one per pipeline: ``plan.kubernetes.cronjob``),
listed, paused and deleted for ``bodywork schedule`` (and Bodywork's ``cronjob`` commands).

Pausing sets ``spec.suspend`` with a merge patch, not with our server-side apply: the field
then belongs to another field manager, so a redeploy (which applies the CronJob without
``suspend``) leaves a paused schedule paused, as it does on this machine. Resuming a
CronJob that missed fires while suspended starts one Job at once (it has no
``startingDeadlineSeconds``), as the local schedule does.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.errors import NotFoundError
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.targets.base import StoredSchedule, next_fire

#: Our CronJobs: ours, and the in-cluster controller is what they run.
SELECTOR = f"{k8s.LABEL_MANAGED_BY}={k8s.APP},{k8s.LABEL_COMPONENT}=controller"
#: Scheduled runs looked through for the newest one.
RUNS_LOOKED_AT = 50


def cronjobs(cluster: Cluster, namespace: str) -> list[Any]:
    """Our CronJobs in ``namespace``."""
    listed: Any = cluster.call(
        cluster.batch.list_namespaced_cron_job, namespace, label_selector=SELECTOR
    )
    return list(listed.items)


def pipeline_of(cronjob: Any) -> str:
    """The pipeline's name as bodywork.yaml writes it (the CronJob's name is its k8s name)."""
    annotations = cronjob.metadata.annotations or {}
    return str(annotations.get(k8s.ANNOTATION_PIPELINE) or cronjob.metadata.name)


def find(cluster: Cluster, namespaces: list[str], name: str) -> tuple[str, Any]:
    """Pipeline ``name``'s CronJob and its namespace; ``NotFoundError`` naming those found."""
    found: list[str] = []
    for namespace in namespaces:
        for cronjob in cronjobs(cluster, namespace):
            if pipeline_of(cronjob) == name:
                return namespace, cronjob
            found.append(pipeline_of(cronjob))
    known = ", ".join(found) or "none"
    raise NotFoundError(
        f"no schedule '{name}' in namespace {', '.join(namespaces) or '-'} (schedules: {known})"
    )


def stored(
    cluster: Cluster, namespace: str, cronjob: Any, records: ClusterRecords
) -> StoredSchedule:
    """A CronJob as surfaces show a schedule: its next fire, its last scheduled run."""
    name = pipeline_of(cronjob)
    paused = bool(cronjob.spec.suspend)
    last = cronjob.status.last_schedule_time if cronjob.status else None
    scheduled = [r for r in records.runs(name, RUNS_LOOKED_AT) if r.options.get("scheduled")]
    newest = scheduled[0] if scheduled else None
    return StoredSchedule(
        name=name,
        cron=cronjob.spec.schedule,
        paused=paused,
        next_fire=None if paused else next_fire(cronjob.spec.schedule, time.time()),
        last_fire=last.timestamp() if last is not None else None,
        last_run=newest.id if newest else None,
        last_status=newest.status if newest else None,
        source=_source(cluster, namespace, cronjob),
        namespace=namespace,
        stored_as=f"CronJob {cronjob.metadata.name}",
    )


def _source(cluster: Cluster, namespace: str, cronjob: Any) -> str:
    """What the CronJob runs: the repository and commit of the plan it mounts."""
    config_map = _plan_config_map(cronjob)
    if config_map is None:
        return ""
    try:
        read: Any = cluster.call(cluster.core.read_namespaced_config_map, config_map, namespace)
    except NotFoundError:
        return ""
    plan = json.loads((read.data or {}).get(k8s.PLAN_KEY) or "{}")
    source = plan.get("source") or {}
    commit = str(source.get("commit") or "")
    return f"{source.get('repo') or ''}@{commit[:8]}" if commit else str(source.get("repo") or "")


def _plan_config_map(cronjob: Any) -> str | None:
    volumes = cronjob.spec.job_template.spec.template.spec.volumes or []
    for volume in volumes:
        if volume.config_map is not None:
            return str(volume.config_map.name)
    return None


def suspend(cluster: Cluster, namespace: str, cronjob: Any, paused: bool) -> Any:
    """Set the CronJob's ``spec.suspend`` (a merge patch: see the module's docstring)."""
    return cluster.call(
        cluster.batch.patch_namespaced_cron_job,
        cronjob.metadata.name,
        namespace,
        {"spec": {"suspend": paused}},
        _content_type="application/merge-patch+json",
    )


def delete(cluster: Cluster, namespace: str, cronjob: Any) -> None:
    """Delete the CronJob and the plan it runs; a Job it started goes on (orphaned, it
    keeps the pipeline's labels: ``delete deployment`` still finds it)."""
    meta = {"name": cronjob.metadata.name, "namespace": namespace}
    cluster.delete({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta}, "Orphan")
    config_map = _plan_config_map(cronjob)
    if config_map is not None:
        plan_meta = {"name": config_map, "namespace": namespace}
        cluster.delete({"apiVersion": "v1", "kind": "ConfigMap", "metadata": plan_meta})
