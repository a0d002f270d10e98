"""What ``bodywork configure-cluster`` applies: the Namespace, service accounts and RBAC.

Named for what it grants rather than ``rbac.py``: a submodule named ``rbac`` would be an
attribute of the package beside the ``rbac`` function it re-exports.
"""

from __future__ import annotations

from bodywork_jupyter.plan.kubernetes.labels import LABEL_COMPONENT, app_labels, metadata
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.options import (
    CONTROLLER_SERVICE_ACCOUNT,
    STAGE_SERVICE_ACCOUNT,
    KubernetesOptions,
)

_WATCH = ["get", "list", "watch"]
#: Server-side apply is a PATCH; one that makes the object is also checked as a create.
_APPLY = ["create", "patch"]

#: What the controller does, and nothing more (each verb is a call it makes).
_CONTROLLER_RULES: list[Manifest] = [
    # one Job per stage attempt: applied, followed (its conditions, by watch), read again
    # by a controller that takes a run over, stopped (delete)
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": [*_APPLY, *_WATCH, "delete"]},
    # why an attempt is stuck or failed: ErrImagePull, OOMKilled, Unschedulable, ...
    # (listed and watched by their labels; never read one by one)
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    # a stage's log, followed while it runs (the runner's events)
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    # one Deployment per service version: applied, watched until ready, read again on a
    # take-over, removed when replaced or rolled back (a version is never changed)
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": [*_APPLY, *_WATCH, "delete"],
    },
    # the stage's Service: applied to move traffic to a version that is ready; listed and
    # deleted when the plan no longer has the stage
    {"apiGroups": [""], "resources": ["services"], "verbs": [*_APPLY, "list", "delete"]},
    # a service's optional Ingress, the same way
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses"],
        "verbs": [*_APPLY, "list", "delete"],
    },
    # run records (labelled ConfigMaps, no CRD): created, applied, read, listed, and the
    # run's summary watched for the cancel flag
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": [*_APPLY, *_WATCH]},
    # at most one controller drives a deployment: a Lease per deployment
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["create", "get", "update"],
    },
]


def rbac(
    namespace: str,
    *,
    controller_service_account: str = CONTROLLER_SERVICE_ACCOUNT,
    stage_service_account: str = STAGE_SERVICE_ACCOUNT,
) -> list[Manifest]:
    """What ``bodywork configure-cluster`` applies: namespace-scoped, nothing cluster-wide.

    The Namespace (enforcing the ``restricted`` Pod Security Standard, which every pod
    rendered here meets), a ServiceAccount, Role and RoleBinding for the controller, and a
    ServiceAccount for stage pods that mounts no token. The Role grants only what the
    controller does; it reads no Secret (a pod's ``secretKeyRef`` is resolved by the
    kubelet, not by whoever creates the pod) and cannot touch namespaces or RBAC.
    """
    # the options check the names as they check any other
    options = KubernetesOptions(
        namespace=namespace,
        controller_service_account=controller_service_account,
        stage_service_account=stage_service_account,
    )
    base = app_labels()
    controller = {**base, LABEL_COMPONENT: "controller"}
    account = options.controller_service_account
    return [
        k8s_object(
            "v1",
            "Namespace",
            metadata(
                namespace,
                None,
                {
                    **base,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
        ),
        k8s_object("v1", "ServiceAccount", metadata(account, namespace, controller)),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "Role",
            metadata(account, namespace, controller),
            rules=_CONTROLLER_RULES,
        ),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            metadata(account, namespace, controller),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        ),
        k8s_object(
            "v1",
            "ServiceAccount",
            metadata(options.stage_service_account, namespace, {**base, LABEL_COMPONENT: "stage"}),
            # stage pods never talk to the API server
            automountServiceAccountToken=False,
        ),
    ]
