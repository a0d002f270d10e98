"""A stage's log on the Kubernetes target: read from its attempt's pod."""

from __future__ import annotations

from typing import Any

from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.engine.store import StageState
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan import kubernetes as k8s

#: The stage container's name in every stage pod.
CONTAINER = "stage"


def pod_log(
    cluster: Cluster, namespace: str, plan: dict[str, Any], run_id: str, stage: StageState
) -> bytes:
    """The log of the stage's current attempt (``plan``: the run's), from its pod (the
    first of a service's replicas); nothing while there is none or it has not started."""
    planned = (plan.get("stages") or {}).get(stage.stage)
    if planned is None:
        planned = plan.get("run_on_failure") or {}
    k8s_stage = str(planned.get("k8s_name") or stage.stage)
    selector = f"{k8s.LABEL_RUN}={k8s.label_value(run_id)},{k8s.LABEL_STAGE}="
    selector += k8s.label_value(k8s_stage)
    if stage.kind == "batch":
        selector += f",{k8s.LABEL_ATTEMPT}={stage.attempt}"
    core = cluster.core
    pods: Any = cluster.call(core.list_namespaced_pod, namespace, label_selector=selector)
    if not pods.items:
        return b""
    first = min(pods.items, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))
    try:
        response: Any = cluster.call(
            core.read_namespaced_pod_log,
            first.metadata.name,
            namespace,
            container=CONTAINER,
            _preload_content=False,
        )
    except ClusterPermissionError:
        raise
    except BadInputError:  # not started yet, or gone (NotFoundError)
        return b""
    try:
        data: bytes = response.data or b""
    finally:
        response.release_conn()
    return data
