"""Helpers the bodywork tests of the k8s tier share: projects, the service proxy, Jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from k8s_helpers import Kube, wait_for
from kubernetes import client

from tests.projects import git_commit, notebook, write_yaml

#: A service notebook's predict cell (``FACTOR`` comes from a cell before it).
PREDICT = "def predict(request):\n    return {'y': request['x'] * FACTOR}"


def shared_folder(prefix: str) -> Iterator[Path]:
    """A folder this machine and the pods both see (under /var/tmp, not /tmp or /work);
    removed after the test. A fixture's body: ``yield from shared_folder(...)``."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def config(pipeline: str, **stages: str) -> str:
    """A bodywork.yaml: ``pipeline`` is its pipeline mapping's fields, ``stages`` each
    stage's fields besides its path (which is ``<stage>.ipynb``)."""
    lines = ['version: "2.0"', f"pipeline: {{{pipeline}}}", "stages:"]
    for name, fields in stages.items():
        more = f", {fields}" if fields else ""
        lines.append(f"  {name}: {{path: {name}.ipynb{more}}}")
    return "\n".join(lines) + "\n"


def write_project(folder: Path, config: str, notebooks: dict[str, list[str]]) -> str:
    """Write ``notebooks`` (name -> cells) and ``config`` to ``folder``, commit: the sha."""
    for name, cells in notebooks.items():
        notebook(folder / f"{name}.ipynb", *cells)
    write_yaml(folder, config)
    return git_commit(folder)


def proxy_post(kube: Kube, service: str, port: int, path: str, payload: object) -> Any:
    """POST through the API server's service proxy; the decoded JSON answer."""
    method, url, headers, body, _ = kube.api.param_serialize(
        "POST",
        f"/api/v1/namespaces/{kube.namespace}/services/{service}:{port}/proxy{path}",
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=payload,
        auth_settings=["BearerToken"],
    )
    response = kube.api.call_api(method, url, header_params=headers, body=body)
    response.read()
    if response.status != 200:
        raise AssertionError(f"{response.status}: {response.data!r}")
    return json.loads(response.data)


def answer_or_none(call: Callable[[], Any]) -> Any:
    """``call()``, or None while the service does not answer yet."""
    try:
        return call()
    except (AssertionError, client.ApiException):
        return None  # the endpoints may lag the Service by a moment


def prediction(kube: Kube, x: int) -> Any:
    """What the ``serve`` Service's /predict answers to ``{"x": x}``, once it answers."""
    return wait_for(
        "a prediction through the service proxy",
        lambda: answer_or_none(lambda: proxy_post(kube, "serve", 8000, "/predict", {"x": x})),
        timeout=30,
    )


def jobs(kube: Kube, selector: str | None = None) -> list[client.V1Job]:
    """The Jobs in the test's namespace (those ``selector`` picks, if given)."""
    if selector is None:
        return kube.batch.list_namespaced_job(kube.namespace).items
    return kube.batch.list_namespaced_job(kube.namespace, label_selector=selector).items


def job_names(kube: Kube) -> list[str]:
    return sorted(j.metadata.name for j in jobs(kube))


def job_named(kube: Kube, part: str) -> client.V1Job:
    """The one Job whose name holds ``part``."""
    found = [j for j in jobs(kube) if part in j.metadata.name]
    assert len(found) == 1, [j.metadata.name for j in found]
    return found[0]


# -- the bodywork CLI, as a user runs it against the test cluster ------------------------------

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


def bodywork_cli(kubeconfig: str, namespace: str, state_dir: Path) -> Bodywork:
    """``bodywork ARGS --target kubernetes --namespace NAMESPACE`` in a fresh process
    (``state_dir``: the local target's, which must stay unused)."""
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "NO_COLOR": "1",
        "BODYWORK_STATE_DIR": str(state_dir),
    }
    env.pop("BODYWORK_DEBUG", None)

    def run(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", "kubernetes",
             "--namespace", namespace],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip

    return run


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    """The run id ``bodywork deploy`` printed (``... (run ID)``)."""
    for line in result.stdout.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].rstrip(")")
    raise AssertionError(f"no run id in:\n{result.stdout}\n{result.stderr}")


OURS = "app.kubernetes.io/managed-by=bodywork-jupyter"


def ours_left(kube: Kube) -> list[str]:
    """Every object in the namespace with our label."""
    ns, found = kube.namespace, []
    listings = {
        "Pod": kube.core.list_namespaced_pod,
        "Service": kube.core.list_namespaced_service,
        "ConfigMap": kube.core.list_namespaced_config_map,
        "PersistentVolumeClaim": kube.core.list_namespaced_persistent_volume_claim,
        "ServiceAccount": kube.core.list_namespaced_service_account,
        "Secret": kube.core.list_namespaced_secret,
        "Job": kube.batch.list_namespaced_job,
        "CronJob": kube.batch.list_namespaced_cron_job,
        "Deployment": kube.apps.list_namespaced_deployment,
        "ReplicaSet": kube.apps.list_namespaced_replica_set,
        "Ingress": client.NetworkingV1Api(kube.api).list_namespaced_ingress,
        "EndpointSlice": kube.discovery.list_namespaced_endpoint_slice,
        "Lease": client.CoordinationV1Api(kube.api).list_namespaced_lease,
        "Role": kube.rbac.list_namespaced_role,
        "RoleBinding": kube.rbac.list_namespaced_role_binding,
    }
    for kind, list_function in listings.items():
        found += [f"{kind}/{o.metadata.name}" for o in list_function(ns, label_selector=OURS).items]
    return sorted(found)
