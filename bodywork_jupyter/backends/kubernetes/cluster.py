"""A small typed layer over the official Kubernetes client: connect, apply, translate errors.

Errors are translated where they arrive, into the one exception tree, with what to do
next: a cluster that cannot be reached is ``TargetUnreachableError`` (exit 3) naming the
context; a request the cluster forbids is ``ClusterPermissionError`` naming the missing
permission and ``bodywork configure-cluster``; a missing object is ``NotFoundError``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bodywork_jupyter.errors import BadInputError, NotFoundError, TargetUnreachableError

try:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
except ImportError as missing:  # pragma: no cover - the extra is part of dev installs
    raise BadInputError(
        "the Kubernetes target needs the kubernetes client - "
        "pip install 'bodywork-jupyter[kubernetes]'"
    ) from missing

T = TypeVar("T")

#: The field manager of every object we apply (server-side apply).
FIELD_MANAGER = "bodywork-jupyter"


class ClusterPermissionError(BadInputError):
    """The cluster refused a request: the account lacks a permission."""


@dataclass(frozen=True)
class _Kind:
    api: str  # attribute of Cluster holding the API object
    name: str  # the generated method suffix, e.g. "namespaced_deployment"
    namespaced: bool = True


#: The kinds we create, by apiVersion/kind.
KINDS: dict[tuple[str, str], _Kind] = {
    ("v1", "Namespace"): _Kind("core", "namespace", namespaced=False),
    ("v1", "ServiceAccount"): _Kind("core", "namespaced_service_account"),
    ("v1", "ConfigMap"): _Kind("core", "namespaced_config_map"),
    ("v1", "Secret"): _Kind("core", "namespaced_secret"),
    ("v1", "Service"): _Kind("core", "namespaced_service"),
    ("v1", "PersistentVolumeClaim"): _Kind("core", "namespaced_persistent_volume_claim"),
    ("v1", "Pod"): _Kind("core", "namespaced_pod"),
    ("apps/v1", "Deployment"): _Kind("apps", "namespaced_deployment"),
    ("batch/v1", "Job"): _Kind("batch", "namespaced_job"),
    ("batch/v1", "CronJob"): _Kind("batch", "namespaced_cron_job"),
    ("networking.k8s.io/v1", "Ingress"): _Kind("networking", "namespaced_ingress"),
    ("rbac.authorization.k8s.io/v1", "Role"): _Kind("rbac", "namespaced_role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _Kind("rbac", "namespaced_role_binding"),
    ("coordination.k8s.io/v1", "Lease"): _Kind("coordination", "namespaced_lease"),
}


class Cluster:
    """One cluster, reached through a kubeconfig context or from inside a pod."""

    def __init__(
        self,
        context: str | None = None,
        kubeconfig: str | None = None,
        api_client: client.ApiClient | None = None,
    ) -> None:
        if api_client is not None:
            self.api_client = api_client
            self.context = context or "(given client)"
        else:
            self.api_client, self.context = _connect(context, kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.networking = client.NetworkingV1Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    # -- calls ------------------------------------------------------------------------------

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` with the client's errors translated."""
        with self.translated():
            return function(*args, **kwargs)

    @contextmanager
    def translated(self) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            raise self.error(exc) from None
        except (OSError, ConnectionError) as exc:  # urllib3 errors derive from these
            raise self._unreachable(exc) from None
        except Exception as exc:
            if type(exc).__module__.startswith("urllib3"):
                raise self._unreachable(exc) from None
            raise

    def error(self, exc: ApiException) -> Exception:
        message = _reason(exc)
        if exc.status == 403:
            return ClusterPermissionError(
                f"the cluster (context {self.context}) refused: {message} - give the account "
                "that permission, or run 'bodywork configure-cluster --namespace NS' as a "
                "cluster admin"
            )
        if exc.status == 401:
            return TargetUnreachableError(
                f"the cluster (context {self.context}) did not accept our credentials "
                f"({message}) - log in again or check the kubeconfig"
            )
        if exc.status == 404:
            return NotFoundError(message)
        if exc.status == 422 or exc.status == 400:
            return BadInputError(f"the cluster refused an object: {message}")
        return TargetUnreachableError(
            f"the cluster (context {self.context}) answered {exc.status}: {message}"
        )

    def _unreachable(self, exc: BaseException) -> TargetUnreachableError:
        host = self.api_client.configuration.host
        return TargetUnreachableError(
            f"cannot reach the cluster of context {self.context} at {host} "
            f"({type(exc).__name__}) - is it running, and is the kubeconfig right?"
        )

    # -- objects ------------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Create or update ``obj`` (server-side apply, our field manager, forced)."""
        kind = _kind(obj)
        api = getattr(self, kind.api)
        name = obj["metadata"]["name"]
        args: list[Any] = [name]
        if kind.namespaced:
            args.append(obj["metadata"]["namespace"])
        method = getattr(api, f"patch_{kind.name}")
        extra = {"dry_run": "All"} if dry_run else {}
        result = self.call(
            method,
            *args,
            obj,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
            **extra,
        )
        data: dict[str, Any] = self.api_client.sanitize_for_serialization(result)  # type: ignore[no-untyped-call]
        return data

    def delete(self, obj: dict[str, Any], propagation: str = "Background") -> bool:
        """Delete ``obj`` (True) or find it already gone (False)."""
        kind = _kind(obj)
        api = getattr(self, kind.api)
        args: list[Any] = [obj["metadata"]["name"]]
        if kind.namespaced:
            args.append(obj["metadata"]["namespace"])
        body = client.V1DeleteOptions(propagation_policy=propagation)
        try:
            self.call(getattr(api, f"delete_{kind.name}"), *args, body=body)
        except NotFoundError:
            return False
        return True


def _kind(obj: dict[str, Any]) -> _Kind:
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    if key not in KINDS:
        raise BadInputError(f"cannot apply a {key[1]} ({key[0]}): not a kind bodywork makes")
    return KINDS[key]


def kubeconfig_contexts(kubeconfig: str | None = None) -> list[tuple[str, str | None, bool]]:
    """The kubeconfig's contexts (KUBECONFIG or ~/.kube/config): (name, its namespace,
    whether it is the current one). Read from the file alone: no cluster is asked."""
    # read KUBECONFIG now: the client reads it once, when it is imported
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, TypeError):
        return []
    chosen = (current or {}).get("name")
    return [
        (str(c["name"]), (c.get("context") or {}).get("namespace"), c["name"] == chosen)
        for c in contexts
    ]


def _connect(context: str | None, kubeconfig: str | None) -> tuple[client.ApiClient, str]:
    """A client from the kubeconfig (its current or the given context), else in-cluster."""
    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, TypeError):
        contexts, current = [], None
    if contexts:
        names = [c["name"] for c in contexts]
        chosen = context or (current or {}).get("name")
        if chosen not in names:
            raise BadInputError(
                f"--context {chosen}: not in the kubeconfig (contexts: {', '.join(names)})"
            )
        configuration = client.Configuration()
        with _config_errors(chosen):
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=chosen, client_configuration=configuration
            )
        return client.ApiClient(configuration), str(chosen)
    if context:
        raise TargetUnreachableError(
            f"--context {context}: no kubeconfig found (KUBECONFIG or ~/.kube/config)"
        )
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException:
        raise TargetUnreachableError(
            "no kubeconfig found (KUBECONFIG or ~/.kube/config) and not inside a cluster - "
            "point KUBECONFIG at your cluster's config, or give --context"
        ) from None
    return client.ApiClient(configuration), "in-cluster"


@contextmanager
def _config_errors(context: str | None) -> Iterator[None]:
    try:
        yield
    except (ConfigException, OSError, ValueError) as exc:
        raise TargetUnreachableError(
            f"cannot use context {context} of the kubeconfig ({exc}) - check the file"
        ) from None


_QUOTED = re.compile(r'\\"')


def _reason(exc: ApiException) -> str:
    """The API server's own message (its Status object), else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
        message = str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        message = str(exc.reason or exc.status)
    return _QUOTED.sub('"', message)
