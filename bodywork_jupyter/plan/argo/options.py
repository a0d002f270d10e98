"""What the Argo export decides beyond the plan: which kind, under whom, with which tools."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bodywork_jupyter.plan.kubernetes.names import checked_object_name
from bodywork_jupyter.plan.kubernetes.options import KubernetesOptions

#: ``workflow``: a Workflow (one run); ``template``: a WorkflowTemplate; ``cron``: a
#: WorkflowTemplate and the CronWorkflow that runs it on the pipeline's schedule.
ArgoKind = Literal["workflow", "template", "cron"]
KINDS: tuple[ArgoKind, ...] = ("workflow", "template", "cron")

API_VERSION = "argoproj.io/v1alpha1"
#: The workflow's pods run under it: it applies the services' objects, waits for their
#: rollout and lets Argo's executor report results (docs/users/argo.md has its Role).
DEFAULT_SERVICE_ACCOUNT = "bodywork-argo"
#: Waits for a service's rollout (``kubectl rollout status``); any image with kubectl.
DEFAULT_KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.33.0"
#: A stage without a timeout still gets a deadline per attempt: nothing hangs for ever.
DEFAULT_DEADLINE_SECONDS = 24 * 3600
#: A service without a timeout: how long its rollout may take (a Deployment's default
#: progressDeadlineSeconds).
DEFAULT_ROLLOUT_SECONDS = 600
#: The services' pods mount no token, so the namespace's own account serves them (an Argo
#: namespace has no ``bodywork configure-cluster`` to make ``bodywork-stage``).
STAGE_POD_ACCOUNT = "default"


def kubernetes_options(namespace: str, **settings: Any) -> KubernetesOptions:
    """The Kubernetes target's options as an export into ``namespace`` sets them."""
    return KubernetesOptions(
        namespace=namespace, **{"stage_service_account": STAGE_POD_ACCOUNT, **settings}
    )


class ArgoOptions(BaseModel):
    """The export's choices; ``kubernetes`` holds what the Kubernetes target decides too
    (the namespace, the git credentials Secret, the pods' user), so both render alike."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ArgoKind = "workflow"
    kubernetes: KubernetesOptions
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    kubectl_image: str = Field(default=DEFAULT_KUBECTL_IMAGE, min_length=1)
    default_deadline_seconds: int = Field(default=DEFAULT_DEADLINE_SECONDS, gt=0)

    @field_validator("service_account")
    @classmethod
    def _account_name(cls, value: str) -> str:
        checked_object_name(value, "service account ")
        return value

    @property
    def namespace(self) -> str:
        return self.kubernetes.namespace
