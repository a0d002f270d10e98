"""The handle of one attempt on a cluster, and the plain reference the engine stores.

``ref()`` names the attempt's object (kind, name, namespace and uid) and the attempt
(run, stage, number); ``attached`` builds a handle again from that reference and the
object as read from the cluster, or nothing when the object is not the same one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bodywork_jupyter.backends.kubernetes.logs import LogFollower
from bodywork_jupyter.backends.kubernetes.notebooks import NotebookKeeper
from bodywork_jupyter.engine.backend import Attempt, EventSink, HandleRef
from bodywork_jupyter.plan import kubernetes as k8s

#: The kinds an attempt can be, and their apiVersion.
API_VERSIONS = {"Job": "batch/v1", "Deployment": "apps/v1"}


def service_url(service: str, namespace: str, port: int | None) -> str:
    """A service's in-cluster URL."""
    return f"http://{service}.{namespace}.svc.cluster.local:{port}"


@dataclass(eq=False)
class KubeHandle:
    """One started attempt: its Job (batch) or Deployment (a service version)."""

    kind: str  # Job | Deployment
    name: str
    namespace: str
    uid: str
    run_id: str
    stage: str
    attempt: int
    pod_labels: dict[str, str]
    url: str | None = None  # a service: its in-cluster URL
    origin: Attempt | None = None  # None when attached: the plan is not at hand
    sink: EventSink | None = None
    loop: asyncio.AbstractEventLoop | None = None
    follower: LogFollower | None = None
    runner_failed: dict[str, Any] | None = None  # the runner's stage.failed event
    notebook: NotebookKeeper | None = None  # a batch attempt's executed notebook
    stopping: bool = False

    @property
    def pod_selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in sorted(self.pod_labels.items()))

    @property
    def obj(self) -> dict[str, Any]:
        """Enough of the attempt's object to delete it."""
        meta = {"name": self.name, "namespace": self.namespace}
        return {"apiVersion": API_VERSIONS[self.kind], "kind": self.kind, "metadata": meta}

    def ref(self) -> HandleRef:
        return {
            "backend": "kubernetes",
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "run_id": self.run_id,
            "stage": self.stage,
            "attempt": self.attempt,
        }

    @classmethod
    def attached(
        cls, ref: HandleRef, obj: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> KubeHandle | None:
        """The handle of ``ref`` from its object ``obj`` as read now (None: not the same
        object). Its pods are found by the object's own selector."""
        meta = obj.get("metadata") or {}
        if not ref.get("uid") or meta.get("uid") != ref.get("uid"):
            return None
        spec = obj.get("spec") or {}
        labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
        url = None
        namespace = str(meta.get("namespace") or ref.get("namespace"))
        if ref.get("kind") == "Deployment":
            template = spec.get("template") or {}
            service = ((template.get("metadata") or {}).get("labels") or {}).get(k8s.LABEL_STAGE)
            containers = (template.get("spec") or {}).get("containers") or [{}]
            ports = containers[0].get("ports") or [{}]
            url = service_url(str(service), namespace, ports[0].get("containerPort"))
        return cls(
            kind=str(ref.get("kind")),
            name=str(meta.get("name")),
            namespace=namespace,
            uid=str(ref["uid"]),
            run_id=str(ref.get("run_id")),
            stage=str(ref.get("stage")),
            attempt=int(ref.get("attempt") or 1),
            pod_labels=labels,
            url=url,
            loop=loop,
        )
