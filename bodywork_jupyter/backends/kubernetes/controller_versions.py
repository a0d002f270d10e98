"""The controller's traffic switch: a run's new service versions take the traffic, then the
older versions go and their runs are recorded ``stopped``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.backend import KubernetesBackend
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.controller_saying import say
from bodywork_jupyter.backends.kubernetes.handle import KubeHandle
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.engine import states
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.model import Plan


async def swap_in(
    cluster: Cluster,
    backend: KubernetesBackend,
    writer: RecordWriter,
    namespace: str,
    run_id: str,
    plan: Plan,
    services: dict[str, KubeHandle],
) -> None:
    """Move traffic to each of run ``run_id``'s new versions (ready: the engine says so),
    then remove the older versions and say so on their runs."""
    for name, handle in services.items():
        url = await backend.switch_traffic(handle, plan)
        say(f"service {name}: traffic now goes to run {run_id} ({url})")
    replaced = await asyncio.to_thread(
        remove_old_versions, cluster, namespace, run_id, plan, set(services)
    )
    for old in replaced:
        record_stopped(writer, old, run_id)


def remove_old_versions(
    cluster: Cluster, namespace: str, run_id: str, plan: Plan, serving: set[str]
) -> set[str]:
    """Delete other runs' Deployments of this pipeline, and the Services and Ingresses
    of stages the plan no longer serves; the run ids whose versions went."""
    part = f"{k8s.LABEL_PART_OF}={k8s.label_value(plan.k8s_name)}"
    mine = k8s.label_value(run_id)
    stages = {k8s.label_value(plan.stages[name].k8s_name) for name in serving}
    routed = {
        k8s.label_value(stage.k8s_name)
        for stage in plan.stages.values()
        if stage.service is not None and stage.service.ingress
    }
    replaced: set[str] = set()
    kinds: list[tuple[str, str, Callable[..., Any], set[str] | None]] = [
        ("apps/v1", "Deployment", cluster.apps.list_namespaced_deployment, None),
        ("v1", "Service", cluster.core.list_namespaced_service, stages),
        ("networking.k8s.io/v1", "Ingress", cluster.networking.list_namespaced_ingress, routed),
    ]
    for api_version, kind, list_function, keep in kinds:
        listed = cluster.call(list_function, namespace, label_selector=part)
        for item in listed.items:
            labels = item.metadata.labels or {}
            if keep is None:  # a version: every other run's goes
                if labels.get(k8s.LABEL_RUN) == mine:
                    continue
            elif labels.get(k8s.LABEL_STAGE) in keep:
                continue
            name = item.metadata.name
            obj = {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"name": name, "namespace": namespace},
            }
            cluster.delete(obj)
            old = labels.get(k8s.LABEL_RUN)
            say(f"removed {kind} {name} (of run {old}: replaced by run {run_id})")
            if old and old != mine:
                replaced.add(old)
    found: set[str] = set()
    for label in replaced:
        selector = f"{rec.LABEL_RECORD}={rec.RUN},{k8s.LABEL_RUN}={label}"
        for obj in rec.listed(cluster, namespace, selector):
            other = rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID)
            if other and other != run_id:
                found.add(other)
    return found


def record_stopped(writer: RecordWriter, run_id: str, by_run_id: str) -> None:
    """Record on run ``run_id``, replaced by ``by_run_id``, that its services stopped."""
    store = writer.store(run_id)
    old = store.get_run(run_id, with_plan=False)
    if old is None or old.status != states.DEPLOYED:
        return
    message = f"replaced by run {by_run_id}"
    for stage in store.stages(run_id):
        if stage.status == states.READY:
            writer.record(run_id, "stage.stopped", stage.stage, message=message)
    writer.record(run_id, "run.stopped", message=message)
    say(f"run {run_id}: stopped ({message})")
