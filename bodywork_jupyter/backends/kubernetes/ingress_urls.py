"""Where a service stage is reached from outside the cluster: its Ingress's URL.

``ingress_url`` is a pure function of the Ingress as the API server sends it:
``http://HOST/PATH`` from its rule's host (``https`` when a TLS entry names the host),
else the load balancer's address from its status (``ip`` or ``hostname``), else None: no
ingress controller has given it an address yet. ``ingress_urls`` reads the Ingresses of
a run's services (one list call, by the deployment's label).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.model import Plan


def ingress_url(ingress: Mapping[str, Any]) -> str | None:
    """The URL of the Ingress's first path (None: no host, no address yet)."""
    spec, status = ingress.get("spec") or {}, ingress.get("status") or {}
    rules: list[Mapping[str, Any]] = spec.get("rules") or [{}]
    rule = rules[0] or {}
    paths = (rule.get("http") or {}).get("paths") or [{}]
    path = str(paths[0].get("path") or "/")
    host = rule.get("host")
    if host:
        tls = any(host in (entry.get("hosts") or []) for entry in spec.get("tls") or [])
        return f"{'https' if tls else 'http'}://{host}{path}"
    for address in (status.get("loadBalancer") or {}).get("ingress") or []:
        found = address.get("hostname") or address.get("ip")
        if found:
            return f"http://{_bracketed(str(found))}{path}"
    return None


def _bracketed(address: str) -> str:
    """An IPv6 address in a URL is written in brackets."""
    return f"[{address}]" if ":" in address else address


def ingress_urls(
    cluster: Cluster, namespace: str, plan_doc: Mapping[str, Any]
) -> dict[str, str | None]:
    """Each service stage of the plan that has an Ingress in ``namespace``: its URL, or
    None while it has no address. A stage whose Ingress is not there is left out."""
    try:
        plan = Plan.model_validate(plan_doc)
    except ValidationError:
        return {}  # a record written by another version: no URLs rather than an error
    wanted = {
        k8s.service_name(stage): name
        for name, stage in plan.stages.items()
        if stage.service is not None and stage.service.ingress
    }
    if not wanted:
        return {}
    selector = f"{k8s.LABEL_PART_OF}={k8s.label_value(plan.k8s_name)}"
    listed: Any = cluster.call(
        cluster.networking.list_namespaced_ingress, namespace, label_selector=selector
    )
    found: dict[str, str | None] = {}
    for item in listed.items:
        obj: dict[str, Any] = cluster.api_client.sanitize_for_serialization(item)  # type: ignore[no-untyped-call]
        stage = wanted.get(str((obj.get("metadata") or {}).get("name")))
        if stage is not None:
            found[stage] = ingress_url(obj)
    return found
