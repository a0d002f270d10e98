"""What ``bodywork configure-cluster`` keeps for a namespace, and what stage pods get from it.

A namespace's settings live in one ConfigMap, ``bodywork-settings``: the deploying side
and the in-cluster controller both read it, so a stage pod is rendered the same whoever
renders it, and a deploy needs no cluster flags once an operator has set the namespace up.

- ``data_claim``: a PersistentVolumeClaim whose folder ``<deployment>`` is every stage's
  ``BODYWORK_DATA_DIR``, as the local target's shared data folder is (without one, each pod
  has its own, and the deploy output says so).
- ``cache_claim``: a PersistentVolumeClaim for requirement environments and the
  installer's download cache, shared by every stage pod of the namespace (without one,
  each pod installs its requirements again).
- ``image``, ``image_pull_secrets``, ``git_credentials_secret``, ``ingress_class``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.kubernetes.labels import LABEL_COMPONENT, app_labels, metadata
from bodywork_jupyter.plan.kubernetes.manifest import Manifest, k8s_object
from bodywork_jupyter.plan.kubernetes.names import checked_object_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions
from bodywork_jupyter.plan.model import Plan

SETTINGS_CONFIG_MAP = "bodywork-settings"
SETTINGS_KEY = "settings.json"
#: A claim configure-cluster makes when the one named does not exist yet.
DEFAULT_CLAIM_SIZE = "10Gi"


class ClusterSettings(BaseModel):
    """A namespace's settings (every field optional: unset means the built-in default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_claim: str | None = None
    cache_claim: str | None = None
    image: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    git_credentials_secret: str | None = None
    ingress_class: str | None = None

    @field_validator("data_claim", "cache_claim", "git_credentials_secret", "ingress_class")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return checked_object_name(value)

    @field_validator("image_pull_secrets")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            checked_object_name(name)
        return value

    def changed(self, **changes: Any) -> ClusterSettings:
        """These settings with ``changes`` (None: leave as it is; "" or (): clear it)."""
        given = {k: v for k, v in changes.items() if v is not None}
        cleared = {k: (None if v == "" else v) for k, v in given.items()}
        # validated again: the changes are checked as any settings are
        return ClusterSettings.model_validate({**self.model_dump(), **cleared})

    def shown(self) -> list[str]:
        """One line per setting that is set, for the configure-cluster output."""
        return [
            f"{key}: {', '.join(value) if isinstance(value, tuple) else value}"
            for key, value in self.model_dump().items()
            if value
        ]


def parse_settings(data: dict[str, str] | None, where: str) -> ClusterSettings:
    """The settings in a ConfigMap's data; a hand-edited one that does not parse is named."""
    text = (data or {}).get(SETTINGS_KEY)
    if not text:
        return ClusterSettings()
    try:
        return ClusterSettings.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise BadInputError(
            f"{where}: {SETTINGS_KEY} is not valid ({first}) - set it again with "
            "bodywork configure-cluster"
        ) from None


def settings_config_map(namespace: str, settings: ClusterSettings) -> Manifest:
    labels = {**app_labels(), LABEL_COMPONENT: "settings"}
    text = json.dumps(settings.model_dump(mode="json", exclude_defaults=True), indent=1)
    return k8s_object(
        "v1",
        "ConfigMap",
        metadata(SETTINGS_CONFIG_MAP, namespace, labels),
        data={SETTINGS_KEY: text + "\n"},
    )


def claim(namespace: str, name: str, purpose: str, size: str = DEFAULT_CLAIM_SIZE) -> Manifest:
    """A claim every stage pod mounts at once, on any node: ReadWriteMany."""
    labels = {**app_labels(), LABEL_COMPONENT: purpose}
    return k8s_object(
        "v1",
        "PersistentVolumeClaim",
        metadata(name, namespace, labels),
        spec={"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}},
    )


def options_for(namespace: str, settings: ClusterSettings) -> KubernetesOptions:
    """The renderers' options for a namespace with these settings."""
    return KubernetesOptions(
        namespace=namespace,
        data_claim=settings.data_claim,
        cache_claim=settings.cache_claim,
        image_pull_secrets=settings.image_pull_secrets,
        git_credentials_secret=settings.git_credentials_secret,
        ingress_class=settings.ingress_class,
    )


def with_image(plan: Plan, settings: ClusterSettings, default_image: str) -> Plan:
    """The namespace's stage image in place of the built-in default (a stage's own image,
    or one given to deploy, stays)."""
    if not settings.image:
        return plan

    def swap(image: str) -> str:
        return settings.image if image == default_image and settings.image else image

    stages = {
        name: stage.model_copy(update={"image": swap(stage.image)})
        for name, stage in plan.stages.items()
    }
    update: dict[str, Any] = {"stages": stages}
    if plan.run_on_failure is not None:
        update["run_on_failure"] = plan.run_on_failure.model_copy(
            update={"image": swap(plan.run_on_failure.image)}
        )
    return plan.model_copy(update=update)


def sharing_notes(plan: Plan, settings: ClusterSettings, namespace: str) -> list[str]:
    """What differs from this machine's target, said before anything runs."""
    notes: list[str] = []
    if settings.data_claim is None and len(plan.stages) > 1:
        notes.append(
            f"stages in namespace {namespace} do not share BODYWORK_DATA_DIR (each pod has "
            "its own; on this machine they share one folder) - to share it, run bodywork "
            f"configure-cluster --namespace {namespace} --data-volume pvc:bodywork-data"
        )
    return notes
