"""Liveness of a run on the Kubernetes target: its controller Job's, else the run is lost."""

from __future__ import annotations

import time
from typing import Any

from bodywork_jupyter.backends.kubernetes import pods
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.errors import NotFoundError
from bodywork_jupyter.plan import kubernetes as k8s

#: A queued run is given this long for its controller Job to appear.
QUEUE_GRACE_SECONDS = 30.0


def _controller_jobs(cluster: Cluster, namespace: str, run: Run) -> list[Any]:
    job_name = run.options.get("controller_job")
    batch = cluster.batch
    if job_name:
        try:
            return [cluster.call(batch.read_namespaced_job, job_name, namespace)]
        except NotFoundError:
            return []
    selector = f"{k8s.LABEL_COMPONENT}=controller,{k8s.LABEL_RUN}={k8s.label_value(run.id)}"
    return list(cluster.call(batch.list_namespaced_job, namespace, label_selector=selector).items)


def controller_gone(cluster: Cluster, namespace: str, run: Run) -> str | None:
    """Why nobody drives ``run`` any more (None: its controller Job is alive)."""
    jobs = _controller_jobs(cluster, namespace, run)
    if not jobs:
        # deploy records the run, then creates its Job: give it a moment
        if run.status == states.QUEUED and time.time() - run.created < QUEUE_GRACE_SECONDS:
            return None
        return "its controller Job is gone (deleted?) - deploy again"
    job: Any = jobs[0]
    name = job.metadata.name
    for condition in job.status.conditions or [] if job.status else []:
        if condition.status != "True":
            continue
        if condition.type == "Failed":
            return (
                f"its controller Job {name} failed ({condition.reason}: "
                f"{condition.message}) - see 'kubectl logs job/{name} -n {namespace}', "
                "then deploy again"
            )
        if condition.type == "Complete":
            return f"its controller Job {name} ended without recording the outcome"
    return None


def controller_stuck(cluster: Cluster, namespace: str, run: Run) -> tuple[str, str] | None:
    """(why, its Job's name) when a queued run's controller pod cannot start and will not
    by waiting (its image cannot be pulled, a Secret it needs is missing, no node fits):
    else the run would stay queued for ever. None otherwise."""
    if run.status != states.QUEUED:
        return None
    for job in _controller_jobs(cluster, namespace, run):
        name = str(job.metadata.name)
        found = cluster.call(
            cluster.core.list_namespaced_pod, namespace, label_selector=f"job-name={name}"
        ).items
        for item in found:
            pod: dict[str, Any] = cluster.api_client.sanitize_for_serialization(item)  # type: ignore[no-untyped-call]
            problem = pods.problem(pod, service=False)
            if problem is not None:
                return f"its controller cannot start: {problem.message}", name
    return None


def lose_run(cluster: Cluster, namespace: str, run_id: str, why: str) -> bool:
    """Record the run ``lost`` (and its deployment), unless it settled meanwhile (False)."""
    with RecordWriter(cluster, namespace, flush_interval=None) as writer:
        run = writer.restore(run_id)  # as it is now: it may have settled meanwhile
        if run.status not in (states.QUEUED, states.RUNNING):
            return False
        writer.record(run_id, "run.lost", message=why)
        writer.set_deployment_status(
            run.deployment, states.LOST, unless=(states.DELETING, states.DELETED)
        )
    return True
