"""Services whose Deployment is restarting a pod's container, read when their run is read.

On a cluster a service's Deployment restarts a container that exits, and the run's record
still says the stage is ``ready`` (its controller finished once the run was deployed). So
the Kubernetes target reads a deployed run's ready services from their pods too: one
whose container restarted and is not ready again is ``restarting``, with how it last
ended - the status the local supervisor records for a replica it restarts
(``engine/replicas.py``), so ``bodywork get deployments`` says ``failing`` on both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.backends.kubernetes.namespace_records import READ_SECONDS
from bodywork_jupyter.backends.kubernetes.pods import Pod, container_statuses, deleting, name
from bodywork_jupyter.backends.kubernetes.stage_logs import CONTAINER
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import StageState
from bodywork_jupyter.plan import kubernetes as k8s


def restarting(pods: Iterable[Pod], container: str = CONTAINER) -> str | None:
    """Why a service is restarting: its first pod whose ``container`` restarted and is
    not ready again (None: every one that restarted is ready again)."""
    for pod in sorted(pods, key=name):
        if deleting(pod):
            continue
        for status in container_statuses(pod):
            count = int(status.get("restartCount") or 0)
            if status.get("name") != container or not count or status.get("ready"):
                continue
            last = (status.get("lastState") or {}).get("terminated") or {}
            ended = "restarted"
            if last:
                ended = f"exited with code {last.get('exitCode')} ({last.get('reason')})"
            waiting = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            times = "once" if count == 1 else f"{count} times"
            return f"pod {name(pod)} {ended}; its Deployment restarted it {times}" + (
                f" ({waiting})" if waiting else ""
            )
    return None


class ServiceRestarts:
    """Marks a deployed run's restarting services; its pods are read at most once per
    ``READ_SECONDS`` (a widget or a follow loop asks often)."""

    def __init__(self, ttl: float = READ_SECONDS) -> None:
        self.ttl = ttl
        self._pods: dict[tuple[str, str], tuple[float, list[Pod]]] = {}

    def mark(
        self,
        cluster: Cluster,
        namespace: str,
        run_id: str,
        plan: dict[str, Any],
        rows: list[StageState],
    ) -> list[StageState]:
        """``rows`` of a deployed run, its ready services that are restarting marked so."""
        if not any(r.kind == "service" and r.status == states.READY for r in rows):
            return rows
        pods = self._read(cluster, namespace, run_id)
        by_stage: dict[str, list[Pod]] = {}
        for pod in pods:
            label = (pod.get("metadata", {}).get("labels") or {}).get(k8s.LABEL_STAGE)
            by_stage.setdefault(str(label), []).append(pod)
        stages = plan.get("stages") or {}
        out = []
        for row in rows:
            if row.kind == "service" and row.status == states.READY:
                k8s_name = str((stages.get(row.stage) or {}).get("k8s_name") or row.stage)
                why = restarting(by_stage.get(k8s.label_value(k8s_name), []))
                if why is not None:
                    row = replace(row, status=states.RESTARTING, message=why)
            out.append(row)
        return out

    def _read(self, cluster: Cluster, namespace: str, run_id: str) -> list[Pod]:
        now = time.monotonic()
        kept = self._pods.get((namespace, run_id))
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        try:
            response: Any = cluster.call(
                cluster.core.list_namespaced_pod,
                namespace,
                label_selector=f"{k8s.LABEL_RUN}={k8s.label_value(run_id)}",
                _preload_content=False,
            )
        except ClusterPermissionError:
            return []  # one who may not list pods reads the record as it is
        try:
            pods: list[Pod] = json.loads(response.data or b"{}").get("items") or []
        finally:
            response.release_conn()
        if len(self._pods) > 200:
            self._pods.clear()
        self._pods[(namespace, run_id)] = (now, pods)
        return pods
