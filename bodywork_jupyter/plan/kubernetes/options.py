"""What the cluster side decides, as opposed to the plan: where, under whom, owned by what."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bodywork_jupyter._version import __version__
from bodywork_jupyter.plan.kubernetes.manifest import Manifest
from bodywork_jupyter.plan.kubernetes.names import DNS1123_LABEL, NAME_LIMIT, checked_object_name

STAGE_SERVICE_ACCOUNT = "bodywork-stage"
CONTROLLER_SERVICE_ACCOUNT = "bodywork-controller"
#: The stage image's user (runner/Dockerfile: ``useradd --uid 1000 bodywork``).
DEFAULT_UID = 1000
#: Finished stage Jobs (and their pods, hence their logs) stay a week.
DEFAULT_JOB_TTL_SECONDS = 7 * 24 * 3600
#: The Job deadline is the runner's own timeout plus this (the engine waits as long).
DEFAULT_DEADLINE_GRACE_SECONDS = 30


class OwnerReference(BaseModel):
    """An object whose deletion should delete the rendered one (garbage collection)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False

    def render(self) -> Manifest:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": self.controller,
        }


class KubernetesOptions(BaseModel):
    """What the cluster side decides, as opposed to the plan: where and under whom."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    image_pull_secrets: tuple[str, ...] = ()
    ingress_class: str | None = None
    #: e.g. an ingress controller's rewrite rule; the Ingress carries them as they are
    ingress_annotations: dict[str, str] = Field(default_factory=dict)
    stage_service_account: str = STAGE_SERVICE_ACCOUNT
    controller_service_account: str = CONTROLLER_SERVICE_ACCOUNT
    run_as_user: int = Field(default=DEFAULT_UID, gt=0)
    job_ttl_seconds: int = Field(default=DEFAULT_JOB_TTL_SECONDS, ge=0)
    deadline_grace_seconds: int = Field(default=DEFAULT_DEADLINE_GRACE_SECONDS, ge=0)
    #: a PersistentVolumeClaim for BODYWORK_DATA_DIR (folder <deployment>), shared by stages
    data_claim: str | None = None
    #: a PersistentVolumeClaim for requirement environments, shared by every stage pod
    cache_claim: str | None = None
    #: a Secret holding the runner's git credentials (keys: BODYWORK_GIT_TOKEN, ...)
    git_credentials_secret: str | None = None
    #: the app.kubernetes.io/version label
    version: str = __version__

    @field_validator("namespace")
    @classmethod
    def _namespace_is_a_label(cls, value: str) -> str:
        if len(value) > NAME_LIMIT or not DNS1123_LABEL.fullmatch(value):
            raise ValueError(f"namespace {value!r} is not a DNS-1123 label (a-z, 0-9, '-')")
        return value

    @field_validator(
        "stage_service_account",
        "controller_service_account",
        "git_credentials_secret",
        "data_claim",
        "cache_claim",
    )
    @classmethod
    def _object_names(cls, value: str | None) -> str | None:
        return checked_object_name(value)

    @field_validator("image_pull_secrets")
    @classmethod
    def _secret_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            checked_object_name(name, "image pull secret ")
        return value
