"""The Plan: a DAG of fully resolved stages, ready for any backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bodywork_jupyter.pipeline.model import Resources, RetryPolicy, SecretRef, StageKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Probe(_Frozen):
    """How to tell a service replica is ready: an HTTP GET, or a TCP connect."""

    kind: Literal["http", "tcp"]
    port: int
    path: str | None = None


class PlannedStage(_Frozen):
    name: str
    k8s_name: str
    kind: StageKind
    depends_on: tuple[str, ...] = ()
    image: str
    resources: Resources
    retries: RetryPolicy
    timeout_seconds: float | None
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    replicas: int = 1
    port: int | None = None
    ingress: bool = False
    readiness: Probe | None = None
    # the runner's stage spec (runner/bodywork_runner/spec.py), without per-run fields
    spec: dict[str, Any]

    @property
    def serves_itself(self) -> bool:
        """A module that starts its own server on the declared port (Bodywork's way)."""
        return self.kind == "service" and not str(self.spec["file"]).endswith(".ipynb")


class Plan(_Frozen):
    pipeline: str
    k8s_name: str
    namespace: str | None
    schedule: str | None
    source: dict[str, Any]
    order: tuple[str, ...]
    stages: dict[str, PlannedStage]
    run_on_failure: PlannedStage | None = None
