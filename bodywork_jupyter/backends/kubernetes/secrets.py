"""``bodywork secret`` on a cluster: Secrets a stage's ``secrets:`` finds, keys shown, never values.

A secret NAME in group GROUP is the Secret ``GROUP-NAME`` (``NAME`` without a group), the
name ``PlannedSecret.k8s_secret_name`` gives a stage's reference, as Bodywork named them.
Ours carry the common labels, ``component: secret`` and the group as a label (so a group
can be listed); the name as written is an annotation. Only Secrets with our labels are
listed, changed or deleted: one made with kubectl is left alone.

Values travel in the request bodies only: nothing here returns, prints or logs one, and
error messages name keys and Secrets, never what is in them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kubernetes.client.exceptions import ApiException

from bodywork_jupyter.backends.kubernetes import namespaces
from bodywork_jupyter.backends.kubernetes.cluster import (
    FIELD_MANAGER,
    Cluster,
    ClusterPermissionError,
)
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes.labels import app_labels
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.model import Plan, PlannedSecret
from bodywork_jupyter.plan.secret_refs import missing_secrets, refusal, stored_name
from bodywork_jupyter.targets.base import StoredSecret

LABEL_GROUP = "bodywork.dev/secret-group"
ANNOTATION_NAME = "bodywork.dev/secret-name"
COMPONENT = "secret"
#: Every Secret ``bodywork secret create`` made.
OURS = f"{k8s.LABEL_MANAGED_BY}={k8s.APP},{k8s.LABEL_COMPONENT}={COMPONENT}"


# -- the Secret, pure --------------------------------------------------------------------------


def secret_name(name: str, group: str | None) -> str:
    """The Secret holding NAME of GROUP; refused with how to fix it unless Kubernetes
    accepts it. One rule with the stages' references and this machine's store:
    ``plan.secret_refs.stored_name``."""
    return stored_name(name, group)


def secret_object(
    namespace: str, name: str, group: str | None, data: Mapping[str, str]
) -> Manifest:
    """The Secret for ``data`` (its values base64-encoded, as ``data`` holds them)."""
    labels = {**app_labels(), k8s.LABEL_COMPONENT: COMPONENT}
    if group:
        labels[LABEL_GROUP] = group
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(name, group),
            "namespace": namespace,
            "labels": labels,
            "annotations": {ANNOTATION_NAME: name},
        },
        "type": "Opaque",
        "data": _encoded(data),
    }


def _encoded(data: Mapping[str, str]) -> dict[str, str]:
    return {
        key: base64.b64encode(value.encode("utf-8")).decode("ascii") for key, value in data.items()
    }


def stored(secret: Any) -> StoredSecret:
    """What may be shown of a Secret read from the cluster: its keys, not its values."""
    meta = secret.metadata
    group = (meta.labels or {}).get(LABEL_GROUP) or None
    name = (meta.annotations or {}).get(ANNOTATION_NAME) or str(meta.name)
    return StoredSecret(
        name=name,
        group=group,
        keys=tuple(sorted(secret.data or {})),
        namespace=str(meta.namespace),
        stored_as=str(meta.name),
    )


def _is_ours(secret: Any) -> bool:
    labels = secret.metadata.labels or {}
    return bool(
        labels.get(k8s.LABEL_MANAGED_BY) == k8s.APP and labels.get(k8s.LABEL_COMPONENT) == COMPONENT
    )


def _shown(name: str, group: str | None) -> str:
    return f"secret '{name}'" + (f" of group '{group}'" if group else "")


# -- where -----------------------------------------------------------------------------------


def secret_namespace(cluster: Cluster, given: str | None, context: str | None) -> str:
    """The one namespace a secret is made, changed or deleted in: ``--namespace``, else the
    kubeconfig context's. A stage finds only the Secrets of its own namespace."""
    namespace = given or namespaces.context_namespace(cluster, context)
    if not namespace:
        raise BadInputError(
            "which namespace? - give the one you deploy to: bodywork secret ... --namespace NS"
        )
    return namespace


# -- a deploy's references ---------------------------------------------------------------------


def require_stage_secrets(cluster: Cluster, namespace: str, plan: Plan) -> None:
    """Refuse the deploy (exit 2) when a stage reads a Secret, or a key of one, that
    ``namespace`` does not hold: before anything of the run is created, as on this machine.

    Any Secret counts, one made with kubectl too (the kubelet resolves it the same way).
    Only its keys are looked at. An account that may not read Secrets skips the check:
    the stage's pod then fails at once, naming the Secret."""

    def keys_of(ref: PlannedSecret) -> tuple[str, ...] | None:
        with cluster.translated():
            try:
                secret = cluster.core.read_namespaced_secret(ref.k8s_secret_name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return None
        return tuple(secret.data or {})

    try:
        missing = missing_secrets(plan, keys_of)
    except ClusterPermissionError:
        return
    if missing:
        where = f"in namespace {namespace}"
        raise refusal(missing, "kubernetes", where, f"--target kubernetes --namespace {namespace}")


# -- changes ---------------------------------------------------------------------------------


def create_secret(
    cluster: Cluster, namespace: str, name: str, group: str | None, data: Mapping[str, str]
) -> StoredSecret:
    """Make the Secret; refused if one of that name is there (update or delete it first)."""
    group = group or None
    body: Any = secret_object(namespace, name, group, _some(data))  # the client takes a dict
    full = str(body["metadata"]["name"])
    namespaces.require_configured(cluster, namespace)
    with _asking(cluster, "create", namespace):
        try:
            cluster.core.create_namespaced_secret(namespace, body, field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status != 409:
                raise
            raise BadInputError(
                f"{_shown(name, group)} exists already (Secret {full} in namespace "
                f"{namespace}) - change its keys with 'bodywork secret update', or delete it "
                "first"
            ) from None
    return StoredSecret(name, group, tuple(sorted(data)), namespace, full)


def update_secret(
    cluster: Cluster, namespace: str, name: str, group: str | None, data: Mapping[str, str]
) -> StoredSecret:
    """Set ``data``'s keys in our Secret; its other keys stay (a merge patch: no read, change,
    write race with another update)."""
    full = secret_name(name, group)
    _ours(cluster, namespace, name, group, "update")
    patch = {"data": _encoded(_some(data))}
    with _asking(cluster, "patch", namespace):
        result = cluster.core.patch_namespaced_secret(
            full,
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/merge-patch+json",
        )
    return stored(result)


def list_secrets(cluster: Cluster, namespace: str, group: str | None = None) -> list[StoredSecret]:
    if group:
        secret_name("x", group)  # a group that is no label value would make a bad selector
    selector = OURS + (f",{LABEL_GROUP}={group}" if group else "")
    with _asking(cluster, "list", namespace):
        listed = cluster.core.list_namespaced_secret(namespace, label_selector=selector)
    return sorted((stored(s) for s in listed.items), key=lambda s: (s.group or "", s.name))


def delete_secret(cluster: Cluster, namespace: str, name: str, group: str | None) -> StoredSecret:
    found = _ours(cluster, namespace, name, group, "delete")
    with _asking(cluster, "delete", namespace):
        try:
            cluster.core.delete_namespaced_secret(found.stored_as, namespace)
        except ApiException as exc:
            if exc.status != 404:  # gone meanwhile: as good as deleted
                raise
    return found


def _some(data: Mapping[str, str]) -> Mapping[str, str]:
    if not data:
        raise BadInputError("no keys given - give at least one KEY=VALUE")
    return data


def _ours(
    cluster: Cluster, namespace: str, name: str, group: str | None, verb: str
) -> StoredSecret:
    """Our Secret NAME of GROUP, read to be changed; a clear error if it is not there or
    not ours (a Secret made with kubectl is left alone)."""
    full = secret_name(name, group)
    with _asking(cluster, "get", namespace):
        try:
            secret = cluster.core.read_namespaced_secret(full, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            secret = None
    if secret is None:
        known = ", ".join(_label(s) for s in list_secrets(cluster, namespace)) or "none"
        hint = "create it with 'bodywork secret create'" if verb == "update" else "nothing to do"
        raise NotFoundError(
            f"no {_shown(name, group)} in namespace {namespace} (secrets there: {known}) - {hint}"
        )
    if not _is_ours(secret):
        raise BadInputError(
            f"Secret {full} in namespace {namespace} was not made by 'bodywork secret', so "
            f"it is left alone - {verb} it with kubectl if you mean to"
        )
    return stored(secret)


def _label(secret: StoredSecret) -> str:
    return f"{secret.name} (group {secret.group})" if secret.group else secret.name


@contextmanager
def _asking(cluster: Cluster, verb: str, namespace: str) -> Iterator[None]:
    """The cluster layer's errors; a refusal names the permission that is missing, which
    is the user's own: ``configure-cluster`` grants nobody Secrets."""
    try:
        with cluster.translated():
            yield
    except ClusterPermissionError:
        raise ClusterPermissionError(
            f"the cluster (context {cluster.context}) refused to {verb} Secrets in namespace "
            f"{namespace} - your account needs '{verb}' on 'secrets' there ('bodywork "
            "secret' runs with your own credentials; configure-cluster gives the controller "
            "none): ask a cluster admin for a Role that allows it"
        ) from None
