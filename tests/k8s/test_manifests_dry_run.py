"""Every object bodywork_jupyter.plan.kubernetes renders passes the API server's validation.

Each object is POSTed as the JSON we render (not through the client's models, which
could drop a field we misspelt) with ``dryRun=All`` and ``fieldValidation=Strict``: the
API server decodes it strictly, defaults, validates and admits it, then stores nothing.
What comes back must still hold every field we sent, with the same value (our CPU and
memory quantities are already in the server's canonical form). The RBAC objects are
created for real, so the stage pods' templates can also be dry-run as Pods in a namespace
that enforces the ``restricted`` Pod Security Standard, and so the API server's own
authorizer can say what the controller's Role allows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Plan, plan_pipeline
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes import KubernetesOptions
from bodywork_runner.spec import Source

pytestmark = pytest.mark.k8s

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
RUN_ID = "20260101-120000-abc123"

PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ConfigMap": "configmaps",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "Deployment": "deployments",
    "Service": "services",
    "Ingress": "ingresses",
    "Pod": "pods",
}


def _post(kube: Kube, obj: dict[str, Any], *, dry_run: bool = True) -> tuple[int, dict[str, Any]]:
    """POST ``obj`` as it is; the status and the object (or Status) the server returns."""
    api_version = obj["apiVersion"]
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if obj["kind"] != "Namespace":
        path += f"/namespaces/{obj['metadata'].get('namespace', kube.namespace)}"
    path += f"/{PLURALS[obj['kind']]}"
    query = [("fieldValidation", "Strict"), *([("dryRun", "All")] if dry_run else [])]
    method, url, headers, body, _ = kube.api.param_serialize(
        "POST",
        path,
        query_params=query,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=obj,
        auth_settings=["BearerToken"],
    )
    response = kube.api.call_api(method, url, header_params=headers, body=body)
    response.read()
    return response.status, json.loads(response.data or b"{}")


def _accepted(kube: Kube, obj: dict[str, Any], *, dry_run: bool = True) -> dict[str, Any]:
    status, returned = _post(kube, obj, dry_run=dry_run)
    what = f"{obj['kind']} {obj['metadata']['name']}"
    assert status == 201, f"{what} refused ({status}): {returned.get('message', returned)}"
    _assert_kept(obj, returned, what)
    return returned


def _assert_kept(sent: Any, returned: Any, where: str) -> None:
    """Every field we sent came back with the same value (the server only adds)."""
    if isinstance(sent, dict):
        assert isinstance(returned, dict), where
        for key, value in sent.items():
            assert key in returned, f"{where}.{key} was dropped"
            _assert_kept(value, returned[key], f"{where}.{key}")
    elif isinstance(sent, list):
        assert isinstance(returned, list) and len(returned) == len(sent), where
        for index, (a, b) in enumerate(zip(sent, returned, strict=True)):
            _assert_kept(a, b, f"{where}[{index}]")
    else:
        assert sent == returned, f"{where}: sent {sent!r}, the server kept {returned!r}"


def _plans() -> list[Plan]:
    iris = plan_pipeline(load_pipeline(EXAMPLES / "iris"), SOURCE)
    classic = plan_pipeline(load_pipeline(EXAMPLES / "bodywork-1.1"), SOURCE)
    # what the examples do not have: a schedule, an Ingress, a secret, resources and GPUs
    data = iris.model_dump(mode="json")
    data["pipeline"] = data["k8s_name"] = "iris-scheduled"
    data["schedule"] = "*/5 * * * *"
    data["stages"]["predict"]["service"]["ingress"] = True
    train = data["stages"]["train"]
    train["secrets"] = {"DB_PASSWORD": {"group": None, "secret": "warehouse", "key": "password"}}
    train["env"] = {"MODE": "full"}
    train["resources"] = {
        "cpu_request": 0.25,
        "cpu_limit": 1.5,
        "memory_request_mb": 512,
        "memory_limit_mb": 2048,
        "gpu": 1,
    }
    return [iris, classic, Plan.model_validate(data)]


def _options(kube: Kube) -> KubernetesOptions:
    return KubernetesOptions(
        namespace=kube.namespace,
        image_pull_secrets=("registry-credentials",),
        ingress_class="nginx",
        ingress_annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "8m"},
        git_credentials_secret="git-credentials",
    )


def _rendered(kube: Kube) -> list[dict[str, Any]]:
    options = _options(kube)
    objects: list[dict[str, Any]] = []
    for plan in _plans():
        objects += k8s.render_plan(plan, run_id=RUN_ID, options=options)
        # a retry, and a second version of each service beside the first
        for stage in plan.stages.values():
            if stage.kind == "batch":
                objects.append(k8s.job(plan, stage, run_id=RUN_ID, attempt=2, options=options))
            else:
                objects.append(
                    k8s.deployment(plan, stage, run_id="20260102-120000-def456", options=options)
                )
    return objects


def _configure(kube: Kube) -> None:
    """What configure-cluster does, in the test's namespace (which exists already)."""
    for obj in k8s.rbac(kube.namespace)[1:]:
        _accepted(kube, obj, dry_run=False)
    labels = k8s.rbac(kube.namespace)[0]["metadata"]["labels"]
    kube.core.patch_namespace(kube.namespace, {"metadata": {"labels": labels}})


def _pod_from(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    spec = obj["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": k8s.k8s_object_name(obj["metadata"]["name"], "pod"),
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }


def test_every_rendered_object_is_accepted(kube: Kube) -> None:
    _configure(kube)
    objects = _rendered(kube)
    kinds = {obj["kind"] for obj in objects}
    assert kinds == {"Job", "Deployment", "Service", "Ingress", "ConfigMap", "CronJob"}
    for obj in objects:
        returned = _accepted(kube, obj)
        if obj["kind"] == "Job":
            # the server defaulted nothing we care about away
            assert returned["spec"]["backoffLimit"] == 0
            assert returned["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    # the Namespace itself, under a name of its own (the test's namespace exists)
    namespace = k8s.rbac(f"{kube.namespace}-new")[0]
    _accepted(kube, namespace)
    # dry-run objects are not stored
    assert kube.batch.list_namespaced_job(kube.namespace).items == []
    assert kube.apps.list_namespaced_deployment(kube.namespace).items == []


def test_every_pod_meets_the_restricted_pod_security_standard(kube: Kube) -> None:
    _configure(kube)
    namespace = kube.core.read_namespace(kube.namespace)
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    workloads = [o for o in _rendered(kube) if o["kind"] in {"Job", "Deployment", "CronJob"}]
    for obj in workloads:
        pod = _pod_from(obj, kube.namespace)
        status, returned = _post(kube, pod)
        assert status == 201, f"pod of {obj['metadata']['name']}: {returned.get('message')}"
    # and the check can fail: the same pod without its securityContext is refused
    pod = _pod_from(workloads[0], kube.namespace)
    del pod["spec"]["securityContext"]
    for container in pod["spec"]["containers"]:
        del container["securityContext"]
    status, returned = _post(kube, pod)
    assert status == 403, returned
    assert "PodSecurity" in returned["message"] and "restricted" in returned["message"]


def test_a_broken_object_is_refused(kube: Kube) -> None:
    plan = _plans()[0]
    job = k8s.job(plan, plan.stages["train"], run_id=RUN_ID, attempt=1, options=_options(kube))
    bad_name = json.loads(json.dumps(job))
    bad_name["metadata"]["name"] = "iris_train"
    status, returned = _post(kube, bad_name)
    assert status == 422, returned
    assert returned["reason"] == "Invalid" and "iris_train" in returned["message"]
    # a misspelt field is refused too (strict decoding), not silently dropped
    typo = json.loads(json.dumps(job))
    typo["spec"]["backofLimit"] = typo["spec"].pop("backoffLimit")
    status, returned = _post(kube, typo)
    assert status == 400, returned
    assert "backofLimit" in returned["message"]


def test_the_controller_role_allows_what_it_needs_and_nothing_more(kube: Kube) -> None:
    _configure(kube)
    authz = client.AuthorizationV1Api(kube.api)
    user = f"system:serviceaccount:{kube.namespace}:{k8s.CONTROLLER_SERVICE_ACCOUNT}"

    def allowed(
        verb: str,
        resource: str,
        group: str = "",
        sub: str | None = None,
        namespace: str | None = None,
    ) -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user,
                groups=["system:serviceaccounts", f"system:serviceaccounts:{kube.namespace}"],
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace or kube.namespace,
                    verb=verb,
                    group=group,
                    resource=resource,
                    subresource=sub,
                ),
            )
        )
        return bool(authz.create_subject_access_review(review).status.allowed)

    # the RBAC authorizer's cache follows the new Role within moments
    wait_for("the controller's Role to take effect", lambda: allowed("create", "jobs", "batch"))
    # what the controller calls (server-side apply: a patch, and a create for a new object)
    for verb, resource, group, sub in [
        ("create", "jobs", "batch", None),
        ("patch", "jobs", "batch", None),
        ("get", "jobs", "batch", None),
        ("watch", "jobs", "batch", None),
        ("delete", "jobs", "batch", None),
        ("list", "pods", "", None),
        ("watch", "pods", "", None),
        ("get", "pods", "", "log"),
        ("create", "deployments", "apps", None),
        ("patch", "deployments", "apps", None),
        ("get", "deployments", "apps", None),
        ("delete", "deployments", "apps", None),
        ("patch", "services", "", None),
        ("list", "services", "", None),
        ("delete", "services", "", None),
        ("create", "ingresses", "networking.k8s.io", None),
        ("patch", "ingresses", "networking.k8s.io", None),
        ("create", "configmaps", "", None),
        ("patch", "configmaps", "", None),
        ("watch", "configmaps", "", None),
        ("get", "leases", "coordination.k8s.io", None),
        ("update", "leases", "coordination.k8s.io", None),
    ]:
        assert allowed(verb, resource, group, sub), (verb, resource, sub)
    for verb, resource, group, namespace in [
        ("get", "secrets", "", None),  # secretKeyRef is the kubelet's business
        ("list", "secrets", "", None),
        ("create", "namespaces", "", None),
        ("create", "roles", "rbac.authorization.k8s.io", None),
        ("create", "rolebindings", "rbac.authorization.k8s.io", None),
        ("create", "pods", "", None),  # pods come from Jobs and Deployments
        ("get", "pods", "", None),  # listed and watched by label, never read one by one
        ("create", "jobs", "batch", "kube-system"),  # only its own namespace
        ("update", "deployments", "apps", None),  # applied, never replaced
        ("get", "services", "", None),
        ("update", "configmaps", "", None),  # records are created and applied
        ("delete", "configmaps", "", None),  # a record is never removed by its controller
        ("patch", "leases", "coordination.k8s.io", None),
        ("watch", "events", "", None),  # pods' own status says why they are stuck
        ("create", "cronjobs", "batch", None),  # a schedule is the deployer's, not a run's
    ]:
        assert not allowed(verb, resource, group, namespace=namespace), (verb, resource)
    # the stage pods' account may do nothing at all
    stage_user = f"system:serviceaccount:{kube.namespace}:{k8s.STAGE_SERVICE_ACCOUNT}"
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=stage_user,
            resource_attributes=client.V1ResourceAttributes(
                namespace=kube.namespace, verb="list", resource="pods"
            ),
        )
    )
    assert not authz.create_subject_access_review(review).status.allowed
