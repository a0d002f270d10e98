"""Which namespaces the Kubernetes target works in, and whether one is set up.

- A deploy goes to ``--namespace``, else the pipeline's ``namespace``, else its Kubernetes
  name (as Bodywork did).
- Reads without ``--namespace`` look in the kubeconfig context's namespace when it names
  one, else in every namespace ``bodywork configure-cluster`` labelled (listing namespaces
  is cluster-wide: if the account may not, in ``default``).
- A namespace is set up when the controller's ServiceAccount is there: its Role and
  RoleBinding come with it from ``configure-cluster``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import config
from kubernetes.config.config_exception import ConfigException

from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.model import Plan

#: Where a pod finds its own namespace (the service account's projected files).
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: Reads without a namespace, on a cluster that does not let us list namespaces.
FALLBACK_NAMESPACE = "default"


def submit_namespace(given: str | None, plan: Plan) -> str:
    return k8s.deploy_namespace(given, plan)


def context_namespace(cluster: Cluster, context: str | None) -> str | None:
    """The namespace the kubeconfig context names (the current one unless ``context``);
    inside a pod, the pod's own."""
    if cluster.context == "in-cluster":
        try:
            return POD_NAMESPACE_FILE.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    try:
        contexts, current = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, TypeError):
        return None
    chosen = current
    if context:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def configured_namespaces(cluster: Cluster) -> list[str] | None:
    """The namespaces ``configure-cluster`` labelled; None when listing them is forbidden."""
    selector = f"{k8s.LABEL_MANAGED_BY}={k8s.APP}"
    try:
        listed: Any = cluster.call(cluster.core.list_namespace, label_selector=selector)
    except ClusterPermissionError:
        return None
    return sorted(str(item.metadata.name) for item in listed.items)


def read_namespaces(cluster: Cluster, given: str | None, context: str | None) -> list[str]:
    if given:
        return [given]
    named = context_namespace(cluster, context)
    if named:
        return [named]
    labelled = configured_namespaces(cluster)
    if labelled is None:
        return [FALLBACK_NAMESPACE]
    return labelled


def require_configured(cluster: Cluster, namespace: str) -> None:
    """Refuse a namespace ``configure-cluster`` did not set up (before anything is made)."""
    account = k8s.CONTROLLER_SERVICE_ACCOUNT
    try:
        cluster.call(cluster.core.read_namespaced_service_account, account, namespace)
    except NotFoundError:
        raise BadInputError(
            f"namespace {namespace} is not set up for bodywork (it has no ServiceAccount "
            f"{account}) - run 'bodywork configure-cluster --namespace {namespace}' (as "
            "someone who may create namespaces and RBAC), then deploy again"
        ) from None
    except ClusterPermissionError:
        return  # this account may not look: the deploy itself will say what is missing
