"""A namespace's settings (``plan.kubernetes.settings``): read, changed, and their claims.

Read by the deploying side and by the controller alike; written only by
``configure-cluster``, which also makes a claim the settings name when there is none yet.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.plan.kubernetes.settings import (
    SETTINGS_CONFIG_MAP,
    ClusterSettings,
    claim,
    parse_settings,
    settings_config_map,
)
from bodywork_jupyter.targets.base import ClusterChanges

#: How a volume is given: only claims, so every pod meets the restricted Pod Security
#: Standard (which forbids hostPath) and any node can mount it.
_CLAIM_PREFIX = "pvc:"


def _claim_name(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    if value.lower() == "none":
        return ""
    if not value.startswith(_CLAIM_PREFIX) or not value[len(_CLAIM_PREFIX) :]:
        raise BadInputError(
            f"{flag} {value}: give a PersistentVolumeClaim as pvc:NAME (made when it does not "
            f"exist), or none to stop using one"
        )
    return value[len(_CLAIM_PREFIX) :]


def changed_settings(settings: ClusterSettings, changes: ClusterChanges) -> ClusterSettings:
    """``settings`` with what configure-cluster was given; a bad value is named by flag."""
    try:
        return settings.changed(
            data_claim=_claim_name(changes.data_volume, "--data-volume"),
            cache_claim=_claim_name(changes.cache_volume, "--cache-volume"),
            image=changes.image,
            image_pull_secrets=changes.image_pull_secrets,
            git_credentials_secret=changes.git_secret,
            ingress_class=changes.ingress_class,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{FLAGS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()
        )
        raise BadInputError(f"configure-cluster: {problems}") from None


#: The configure-cluster flag of each setting (for errors).
FLAGS = {
    "data_claim": "--data-volume",
    "cache_claim": "--cache-volume",
    "image": "--image",
    "image_pull_secrets": "--image-pull-secret",
    "git_credentials_secret": "--git-secret",
    "ingress_class": "--ingress-class",
}


def read_settings(cluster: Cluster, namespace: str) -> ClusterSettings:
    """The namespace's settings; the defaults when configure-cluster kept none."""
    try:
        found: Any = cluster.call(
            cluster.core.read_namespaced_config_map, SETTINGS_CONFIG_MAP, namespace
        )
    except NotFoundError:
        return ClusterSettings()
    return parse_settings(found.data, f"ConfigMap {namespace}/{SETTINGS_CONFIG_MAP}")


def write_settings(cluster: Cluster, namespace: str, settings: ClusterSettings) -> list[str]:
    """Keep ``settings``; make the claims they name that do not exist. What was applied."""
    made = []
    for name, purpose in ((settings.data_claim, "data"), (settings.cache_claim, "cache")):
        if name is None:
            continue
        try:
            cluster.call(cluster.core.read_namespaced_persistent_volume_claim, name, namespace)
        except NotFoundError:
            # created, never applied again: its size and class are the operator's after this
            cluster.apply(claim(namespace, name, purpose))
            made.append(f"PersistentVolumeClaim/{name}")
    cluster.apply(settings_config_map(namespace, settings))
    made.append(f"ConfigMap/{SETTINGS_CONFIG_MAP}")
    return made
