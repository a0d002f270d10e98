"""What the workflow's service account may do, once per namespace: a Role and its binding.

Each rule is a call the workflow's pods make, and nothing more: Argo's executor reports
each step's result (``workflowtaskresults``); a service's resource templates apply its
Deployment, Service and Ingress (``kubectl apply``: get, create, patch); its rollout wait
watches the Deployment. No Secret is read (a pod's ``secretKeyRef`` is resolved by the
kubelet), nothing is deleted: the services outlive the workflows, people delete them.
"""

from __future__ import annotations

from bodywork_jupyter.plan.argo.options import ArgoOptions
from bodywork_jupyter.plan.kubernetes.labels import LABEL_COMPONENT, app_labels, metadata
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object

_APPLY = ["get", "create", "patch"]

_RULES: list[Manifest] = [
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["workflowtaskresults"],
        "verbs": ["create", "patch"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": [*_APPLY, "list", "watch"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": _APPLY},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _APPLY},
]


def workflow_access(options: ArgoOptions) -> list[Manifest]:
    """The ServiceAccount, Role and RoleBinding the export's workflows run under."""
    account, namespace = options.service_account, options.namespace
    labels = {**app_labels(), LABEL_COMPONENT: "argo-workflow"}
    return [
        k8s_object("v1", "ServiceAccount", metadata(account, namespace, labels)),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "Role",
            metadata(account, namespace, labels),
            rules=_RULES,
        ),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            metadata(account, namespace, labels),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        ),
    ]
