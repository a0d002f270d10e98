"""Every kind the Argo export writes is accepted by an API server that has Argo's CRDs.

Argo's full CustomResourceDefinitions (../shared/argo/crds, tests/argo_data.py) are
installed server-side once per session; the API server then validates each object
against Argo's complete structural schema, and with ``fieldValidation=Strict`` refuses a
field the schema does not have (instead of dropping it). No Argo controller runs here:
the objects are stored and validated, never executed. What comes back must hold every
field sent, and a deliberately wrong object must be refused, to show the check bites.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import Kube, install_crds
from kubernetes import client

from bodywork_jupyter import exporting
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import argo, plan_pipeline
from bodywork_runner.spec import Source
from tests.argo_data import CRDS, EVERYTHING, FILES, raw_schema, require
from tests.conftest import write_project
from tests.projects import git_commit

pytestmark = pytest.mark.k8s

ROOT = Path(__file__).resolve().parents[2]
GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {
    "Workflow": "workflows",
    "WorkflowTemplate": "workflowtemplates",
    "CronWorkflow": "cronworkflows",
}


@pytest.fixture(scope="session")
def argo_crds(k8s_api: client.ApiClient) -> list[str]:
    """Argo's CRDs in the test cluster (cluster-wide: applied again, nothing changes)."""
    paths = sorted(require(CRDS).glob("argoproj.io_*.yaml"))
    assert len(paths) == 5, paths
    return install_crds(k8s_api, paths)


@pytest.fixture(scope="module")
def schema() -> argo.ArgoSchema:
    return argo.ArgoSchema(raw_schema())


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/iris committed, its commit on a remote (a bare repository by path)."""
    base = tmp_path_factory.mktemp("argo-iris")
    project = base / "iris"
    shutil.copytree(ROOT / "examples" / "iris", project)
    git_commit(project)
    remote = base / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    for args in (["branch", "-M", "main"], ["remote", "add", "origin", str(remote)],
                 ["push", "-q", "origin", "main"]):  # fmt: skip
        subprocess.run(["git", "-C", str(project), *args], check=True)
    return project


def _create(kube: Kube, obj: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST ``obj`` as rendered (not through a model that could drop a misspelt field),
    with strict field validation; the status and what the server answered."""
    path = (
        f"/apis/{GROUP}/{VERSION}/namespaces/{obj['metadata']['namespace']}/{PLURALS[obj['kind']]}"
    )
    method, url, headers, body, _ = kube.api.param_serialize(
        "POST",
        path,
        query_params=[("fieldValidation", "Strict")],
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=obj,
        auth_settings=["BearerToken"],
    )
    response = kube.api.call_api(method, url, header_params=headers, body=body)
    response.read()
    return response.status, json.loads(response.data or b"{}")


def _assert_kept(sent: Any, returned: Any, where: str) -> None:
    """Every field sent came back with the same value (the server only adds)."""
    if isinstance(sent, dict):
        assert isinstance(returned, dict), where
        for key, value in sent.items():
            assert key in returned, f"{where}.{key} was dropped"
            _assert_kept(value, returned[key], f"{where}.{key}")
    elif isinstance(sent, list):
        assert isinstance(returned, list) and len(returned) == len(sent), where
        for i, (a, b) in enumerate(zip(sent, returned, strict=True)):
            _assert_kept(a, b, f"{where}[{i}]")
    else:
        assert sent == returned, f"{where}: sent {sent!r}, stored {returned!r}"


def _accepted(kube: Kube, docs: list[dict[str, Any]], schema: argo.ArgoSchema) -> None:
    argo.validate_export(docs, schema)  # what the export checks before writing
    for doc in docs:
        status, returned = _create(kube, doc)
        what = argo.document_label(doc)
        assert status == 201, f"{what} refused ({status}): {returned.get('message', returned)}"
        _assert_kept(doc, returned, what)
        stored = client.CustomObjectsApi(kube.api).get_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, PLURALS[doc["kind"]], returned["metadata"]["name"]
        )
        _assert_kept(doc, stored, what)


@pytest.mark.parametrize("kind", ["workflow", "template"])
def test_bodywork_export_argo_examples_iris_is_accepted(
    kube: Kube, argo_crds: list[str], schema: argo.ArgoSchema, iris: Path, kind: argo.ArgoKind
) -> None:
    exported = exporting.export_argo(str(iris), kind=kind, namespace=kube.namespace)
    _accepted(kube, exported.documents, schema)


@pytest.mark.parametrize("kind", ["workflow", "template", "cron"])
def test_every_feature_of_every_kind_is_accepted(
    kube: Kube, argo_crds: list[str], schema: argo.ArgoSchema, tmp_path: Path, kind: argo.ArgoKind
) -> None:
    source = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
    plan = plan_pipeline(load_pipeline(write_project(tmp_path / "p", EVERYTHING, *FILES)), source)
    options = argo.ArgoOptions(
        kind=kind,
        kubernetes=argo.kubernetes_options(
            kube.namespace,
            image_pull_secrets=("registry-credentials",),
            ingress_class="nginx",
            git_credentials_secret="git-credentials",
        ),
    )
    docs = argo.render_argo(plan, options)
    assert [d["kind"] for d in docs] == {
        "workflow": ["Workflow"],
        "template": ["WorkflowTemplate"],
        "cron": ["WorkflowTemplate", "CronWorkflow"],
    }[kind]
    _accepted(kube, docs, schema)


def test_the_api_server_refuses_what_argo_would(
    kube: Kube, argo_crds: list[str], iris: Path
) -> None:
    (good,) = exporting.export_argo(str(iris), namespace=kube.namespace).documents
    typo = copy.deepcopy(good)
    typo["spec"]["templates"][1]["container"]["comand"] = ["bodywork-runner"]
    status, answer = _create(kube, typo)
    assert status in (400, 422), answer
    assert "comand" in answer["message"]

    wrong = copy.deepcopy(good)
    wrong["spec"]["templates"][1]["activeDeadlineSeconds"] = ["630"]  # int or string only
    status, answer = _create(kube, wrong)
    assert status == 422, answer
    assert "activeDeadlineSeconds" in answer["message"]

    dag = copy.deepcopy(good)
    dag["spec"]["templates"][0]["dag"]["tasks"][0].pop("name")  # a task needs its name
    status, answer = _create(kube, dag)
    assert status == 422 and "name" in answer["message"], answer


def test_the_workflows_role_allows_what_its_pods_do_and_no_more(kube: Kube) -> None:
    options = argo.ArgoOptions(kubernetes=argo.kubernetes_options(kube.namespace))
    account, role, binding = argo.workflow_access(options)
    kube.core.create_namespaced_service_account(kube.namespace, account)
    kube.rbac.create_namespaced_role(kube.namespace, role)
    kube.rbac.create_namespaced_role_binding(kube.namespace, binding)
    user = f"system:serviceaccount:{kube.namespace}:{options.service_account}"
    reviews = client.AuthorizationV1Api(kube.api)

    def allowed(verb: str, group: str, resource: str) -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=user,
                resource_attributes=client.V1ResourceAttributes(
                    namespace=kube.namespace, verb=verb, group=group, resource=resource
                ),
            )
        )
        return bool(reviews.create_subject_access_review(review).status.allowed)

    calls = [
        ("create", "argoproj.io", "workflowtaskresults"),  # Argo's executor
        ("patch", "argoproj.io", "workflowtaskresults"),
        *((v, "apps", "deployments") for v in ("get", "create", "patch", "watch")),
        *((v, "", "services") for v in ("get", "create", "patch")),
        *((v, "networking.k8s.io", "ingresses") for v in ("get", "create", "patch")),
    ]
    for call in calls:
        assert allowed(*call), call
    for call in [("get", "", "secrets"), ("delete", "apps", "deployments"), ("create", "", "pods")]:
        assert not allowed(*call), call
