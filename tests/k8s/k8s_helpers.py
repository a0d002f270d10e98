"""Helpers of the k8s tier: waiting, and the workloads the tests create."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client

T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.5
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except client.ApiException as exc:
            if exc.status not in (400, 404):  # not there yet, or not started yet
                raise
            last = f"{exc.status} {exc.body!r}"
            time.sleep(interval)
            continue
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Kube:
    """The API groups a test uses, bound to the test's own namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)

    wait_for = staticmethod(wait_for)

    def pods(self, selector: str) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(self.namespace, label_selector=selector).items

    def logs(self, pod: str, **kwargs: Any) -> str:
        return self.core.read_namespaced_pod_log(pod, self.namespace, **kwargs)

    def wait_job(self, name: str, timeout: float = 60) -> client.V1Job:
        def finished() -> client.V1Job | None:
            job = self.batch.read_namespaced_job(name, self.namespace)
            done = [
                c for c in job.status.conditions or []
                if c.type in ("Complete", "Failed") and c.status == "True"
            ]  # fmt: skip
            return job if done else None

        return wait_for(f"job {name} to finish", finished, timeout)

    def wait_deployment(self, name: str, replicas: int, timeout: float = 60) -> client.V1Deployment:
        def available() -> client.V1Deployment | None:
            dep = self.apps.read_namespaced_deployment(name, self.namespace)
            st = dep.status
            ok = (
                st.observed_generation == dep.metadata.generation
                and st.updated_replicas == replicas
                and st.available_replicas == replicas
                and (st.replicas or 0) == replicas
            )
            return dep if ok else None

        return wait_for(f"deployment {name} to have {replicas} available", available, timeout)


# A small HTTP server a pod runs: ``/`` answers ``<VERSION> <pod name> <body of
# ANSWER>``, ``/healthz`` answers 200 once the file READY_FILE exists (or if unset).
SERVER = r"""
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/healthz":
            ready = not os.environ.get("READY_FILE") or os.path.exists(os.environ["READY_FILE"])
            code, body = (200, b"ok") if ready else (503, b"not ready")
        else:
            code = 200
            body = ("%s %s %s" % (os.environ.get("VERSION", "v1"), os.environ.get("POD_NAME", "?"),
                                   os.environ.get("ANSWER", ""))).encode()
        self.send_response(code); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
print("serving on", os.environ.get("PORT", "8080"), flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), H).serve_forever()
"""


def server_container(name: str = "web", **env: str) -> client.V1Container:
    """A container running SERVER with this test run's Python."""
    variables = [
        client.V1EnvVar(
            name="POD_NAME",
            value_from=client.V1EnvVarSource(
                field_ref=client.V1ObjectFieldSelector(field_path="metadata.name")
            ),
        ),
        *(client.V1EnvVar(name=k, value=v) for k, v in env.items()),
    ]
    return client.V1Container(
        name=name,
        image="bodywork-testcluster/python",
        command=[sys.executable, "-c", SERVER],
        env=variables,
        ports=[client.V1ContainerPort(container_port=int(env.get("PORT", "8080")), name="http")],
    )


def deployment(name: str, container: client.V1Container, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=5),
            ),
        ),
    )


def service(name: str, port: int, target: int | str = 8080) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            selector={"app": name},
            ports=[client.V1ServicePort(port=port, target_port=target, name="http")],
        ),
    )


def job(
    name: str, command: list[str], backoff_limit: int = 0, env: list[client.V1EnvVar] | None = None
) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=backoff_limit,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[
                        client.V1Container(
                            name="main",
                            image="bodywork-testcluster/python",
                            command=command,
                            env=env,
                        )
                    ],
                )
            ),
        ),
    )


IMAGES_CONFIGMAP = ("kube-system", "testcluster-images")


def _image_key(image: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in image)


def set_image_entrypoint(
    api: client.ApiClient,
    image: str,
    command: list[str],
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    working_dir: str | None = None,
) -> None:
    """Say what ``image`` (matched without tag or digest) runs when a container gives no
    ``command``: the test cluster does not pull images (docs/developers/testcluster.md)."""
    core = client.CoreV1Api(api)
    namespace, name = IMAGES_CONFIGMAP
    entry: dict[str, Any] = {"image": image, "command": command, "args": args or []}
    if env:
        entry["env"] = env
    if working_dir:
        entry["workingDir"] = working_dir
    try:
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    patch = {"data": {_image_key(image): json.dumps(entry)}}
    core.patch_namespaced_config_map(name, namespace, patch)


def unset_image_entrypoint(api: client.ApiClient, image: str) -> None:
    namespace, name = IMAGES_CONFIGMAP
    patch = {"data": {_image_key(image): None}}
    client.CoreV1Api(api).patch_namespaced_config_map(name, namespace, patch)


# -- CustomResourceDefinitions (cluster-wide) -------------------------------------------------

#: The field manager the tests apply CRDs with.
CRD_FIELD_MANAGER = "bodywork-tests"


def install_crds(api: client.ApiClient, paths: list[Path], timeout: float = 60) -> list[str]:
    """Apply the CustomResourceDefinitions in ``paths`` server-side (they can be too large
    for a client-side apply's annotation) and wait until each is established; their names.

    CRDs are cluster-wide, so no test namespace removes them: applying the same ones again
    changes nothing, and they stay for the next session (a session fixture calls this).
    """
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in paths:
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = crd["metadata"]["name"]
        ext.patch_custom_resource_definition(
            name,
            crd,
            field_manager=CRD_FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        names.append(name)

    def established(name: str) -> bool:
        status = ext.read_custom_resource_definition(name).status
        return any(
            c.type == "Established" and c.status == "True" for c in (status.conditions or [])
        )

    for name in names:
        wait_for(f"CRD {name} to be established", lambda n=name: established(n), timeout)
    return names
