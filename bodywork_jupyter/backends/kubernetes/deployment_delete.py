"""The delete sweep of the Kubernetes target: everything a deployment made, in order."""

from __future__ import annotations

import time
from typing import Any

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.controller import lease_name
from bodywork_jupyter.backends.kubernetes.namespace_records import NamespaceRecords
from bodywork_jupyter.plan import kubernetes as k8s

#: How often ``delete`` looks whether the pods are gone.
GONE_POLL_SECONDS = 0.5


def delete_deployment(
    cluster: Cluster, records: NamespaceRecords, namespace: str, name: str, deadline: float
) -> None:
    """Remove everything deployment ``name`` made in ``namespace``, and nothing else: its
    CronJob, its controllers (first, so none writes again), its Jobs with their pods,
    Deployments, Services, Ingresses, the plan's ConfigMap, its Lease and its records.
    Waits (until ``deadline``, a monotonic time) for the controllers' and then all its
    pods to be gone."""
    newest = records.runs(name, limit=1, with_plan=True)
    k8s_name = str(newest[0].plan.get("k8s_name") or "") if newest else ""
    part = f"{k8s.LABEL_PART_OF}={k8s.label_value(k8s_name or rec.deployment_label(name))}"
    controllers = f"{part},{k8s.LABEL_COMPONENT}=controller"
    batch, apps, core = cluster.batch, cluster.apps, cluster.core
    delete_listed(cluster, namespace, "batch/v1", "CronJob", batch.list_namespaced_cron_job, part)
    delete_listed(cluster, namespace, "batch/v1", "Job", batch.list_namespaced_job, controllers)
    until_gone(cluster, namespace, core.list_namespaced_pod, controllers, deadline)
    for api_version, kind, list_function in (
        ("batch/v1", "Job", batch.list_namespaced_job),
        ("apps/v1", "Deployment", apps.list_namespaced_deployment),
        ("v1", "Service", core.list_namespaced_service),
        ("networking.k8s.io/v1", "Ingress", cluster.networking.list_namespaced_ingress),
        ("v1", "ConfigMap", core.list_namespaced_config_map),
    ):
        delete_listed(cluster, namespace, api_version, kind, list_function, part)
    ours = f"{rec.LABEL_RECORD},{rec.LABEL_DEPLOYMENT}={rec.deployment_label(name)}"
    delete_listed(cluster, namespace, "v1", "ConfigMap", core.list_namespaced_config_map, ours)
    lease = {"name": lease_name(name), "namespace": namespace}
    cluster.delete({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": lease})
    until_gone(cluster, namespace, apps.list_namespaced_replica_set, part, deadline)
    until_gone(cluster, namespace, core.list_namespaced_pod, part, deadline)
    records.forget_all()


def delete_listed(
    cluster: Cluster,
    namespace: str,
    api_version: str,
    kind: str,
    list_function: Any,
    selector: str,
) -> None:
    """Delete each object of ``kind`` that ``selector`` picks in ``namespace``."""
    listed: Any = cluster.call(list_function, namespace, label_selector=selector)
    for item in listed.items:
        meta = {"name": item.metadata.name, "namespace": namespace}
        cluster.delete({"apiVersion": api_version, "kind": kind, "metadata": meta})


def until_gone(
    cluster: Cluster, namespace: str, list_function: Any, selector: str, deadline: float
) -> bool:
    """Wait until ``selector`` picks nothing; False if ``deadline`` came first."""
    while True:
        listed = cluster.call(list_function, namespace, label_selector=selector)
        if not listed.items:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(GONE_POLL_SECONDS)
