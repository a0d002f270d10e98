"""A container's environment and command line, resolved as the kubelet does."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from kubernetes import client

# What a process inherits from the machine: the command runs here, not in an image. The
# trust settings too, as an image would carry its CA bundle: with egress on, a pod that
# installs from the package index must trust what this machine trusts.
HOST_ENV_KEYS = (
    "PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "PYTHONPATH", "GOPATH", "GOCACHE",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE",
)  # fmt: skip

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """A reference the pod makes cannot be resolved (the kubelet's CreateContainerConfigError)."""


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: ``$$`` escapes, unknown references stay as written."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(sub, value)


def field_value(pod: client.V1Pod, path: str) -> str:
    meta = pod.metadata
    simple: dict[str, Any] = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod.status.pod_ip if pod.status else None,
        "status.hostIP": pod.status.host_ip if pod.status else None,
    }
    if path in simple:
        return simple[path] or ""
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        source = (meta.labels if match.group(1) == "labels" else meta.annotations) or {}
        return source.get(match.group(2), "")
    raise ConfigError(f"unsupported fieldRef {path!r}")


class Resolver:
    """Reads Secrets and ConfigMaps of one namespace (once per container start)."""

    def __init__(self, api: client.CoreV1Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def _data(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        try:
            if kind == "secret":
                obj = self.api.read_namespaced_secret(name, self.namespace)
                raw = obj.data or {}
                return {k: base64.b64decode(v).decode() for k, v in raw.items()}
            obj = self.api.read_namespaced_config_map(name, self.namespace)
            return dict(obj.data or {})
        except client.ApiException as exc:
            if exc.status == 404:
                if optional:
                    return None
                raise ConfigError(f'{kind} "{name}" not found') from exc
            raise

    def key(self, kind: str, name: str, key: str, optional: bool) -> str | None:
        data = self._data(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            raise ConfigError(f'couldn\'t find key {key} in {kind} {self.namespace}/{name}')
        return data[key]

    def all(self, kind: str, name: str, optional: bool) -> dict[str, str]:
        return self._data(kind, name, optional) or {}


def container_env(
    pod: client.V1Pod,
    container: client.V1Container,
    resolver: Resolver,
    service_env: Mapping[str, str],
    *,
    in_image: bool = False,
) -> dict[str, str]:
    """The container's environment. A process of this machine also gets this machine's
    PATH (the cluster's Python first), HOME and a few host settings; a container in its
    image (``in_image``) gets none of them: PATH and HOME are the image's."""
    env: dict[str, str] = {}
    if not in_image:
        env = {k: os.environ[k] for k in HOST_ENV_KEYS if k in os.environ}
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        # the Python env that runs the cluster comes first: a pod's `python` is the tests' one
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]])
        env["HOME"] = "/root"
    env["HOSTNAME"] = pod.spec.hostname or pod.metadata.name
    if pod.spec.enable_service_links is not False:
        env.update(service_env)
    else:  # the API server's own Service is always there
        env.update({k: v for k, v in service_env.items() if k.startswith("KUBERNETES_")})
    for source in container.env_from or []:
        prefix = source.prefix or ""
        if source.config_map_ref is not None:
            ref = source.config_map_ref
            data = resolver.all("configmap", ref.name, bool(ref.optional))
        elif source.secret_ref is not None:
            ref = source.secret_ref
            data = resolver.all("secret", ref.name, bool(ref.optional))
        else:
            continue
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = expand(var.value or "", env)
            continue
        source = var.value_from
        value: str | None
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            value = resolver.key("secret", ref.name, ref.key, bool(ref.optional))
        elif source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            value = resolver.key("configmap", ref.name, ref.key, bool(ref.optional))
        elif source.field_ref is not None:
            value = field_value(pod, source.field_ref.field_path)
        elif source.resource_field_ref is not None:
            value = _resource(container, source.resource_field_ref)
        else:
            raise ConfigError(f"unsupported valueFrom for {var.name}")
        if value is not None:
            env[var.name] = value
    return env


def _resource(container: client.V1Container, ref: client.V1ResourceFieldSelector) -> str:
    kind, _, name = ref.resource.partition(".")
    resources = container.resources
    table = (resources.limits if kind == "limits" else resources.requests) if resources else None
    value = (table or {}).get(name)
    if value is None:
        return "0"
    return str(value)


def command_line(
    container: client.V1Container, env: Mapping[str, str], image: Mapping[str, Any] | None = None
) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded, the image's entrypoint and cmd
    standing in as Docker defines them when the image is configured (see ``IMAGES``)."""
    image = image or {}
    if container.command:
        argv = [*container.command, *(container.args or [])]
    elif container.args is not None:
        argv = [*image.get("command", []), *container.args]
    else:
        argv = [*image.get("command", []), *image.get("args", [])]
    if not argv:
        raise ConfigError(
            f"container {container.name!r} has no command: the test cluster runs the "
            f"command on this machine and does not know the entrypoint of image "
            f"{container.image!r} (set one in the ConfigMap kube-system/{IMAGES})"
        )
    return [expand(part, env) for part in argv]


#: ConfigMap in kube-system whose values (JSON) describe images:
#: ``{"image": "repo/name", "command": [...], "args": [...], "workingDir": "...",
#: "env": {"K": "V"}}``; ``image`` matches the container's image without tag or digest.
IMAGES = "testcluster-images"


def image_repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def image_config(api: client.CoreV1Api, image: str | None) -> dict[str, Any] | None:
    if not image:
        return None
    try:
        data = api.read_namespaced_config_map(IMAGES, "kube-system").data or {}
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    wanted = {image, image_repository(image)}
    for value in data.values():
        try:
            entry = json.loads(value)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("image") in wanted:
            return entry
    return None


def service_links(services: list[client.V1Service]) -> dict[str, str]:
    """The ``{SVC}_SERVICE_HOST`` / ``_PORT`` variables of a namespace's Services."""
    env: dict[str, str] = {}
    for svc in services:
        ip = svc.spec.cluster_ip
        if not ip or ip == "None" or not svc.spec.ports:
            continue
        base = svc.metadata.name.upper().replace("-", "_")
        first = svc.spec.ports[0]
        env[f"{base}_SERVICE_HOST"] = ip
        env[f"{base}_SERVICE_PORT"] = str(first.port)
        for port in svc.spec.ports:
            proto = (port.protocol or "TCP").upper()
            key = f"{base}_PORT_{port.port}_{proto}"
            env[key] = f"{proto.lower()}://{ip}:{port.port}"
            env[f"{key}_PROTO"] = proto.lower()
            env[f"{key}_PORT"] = str(port.port)
            env[f"{key}_ADDR"] = ip
            if port.name:
                env[f"{base}_SERVICE_PORT_{port.name.upper().replace('-', '_')}"] = str(port.port)
        env[f"{base}_PORT"] = f"{(first.protocol or 'TCP').lower()}://{ip}:{first.port}"
    return env
