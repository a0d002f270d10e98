"""The Plan: a DAG of fully resolved stages, ready for any backend.

Every fact is held once: the source and the log level belong to the plan, a service's
port to its ``PlannedService``. What a backend decides per attempt (run id, folders, the
port it listens on) is not here: ``runner_spec`` adds it when it builds the runner's
StageSpec. The plan is stored as JSON with each run, so it must survive
``model_dump(mode="json")`` and ``model_validate`` unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from bodywork_jupyter.pipeline.model import Resources, RetryPolicy, StageKind
from bodywork_runner.spec import Source


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Probe(_Frozen):
    """How to tell a service replica is ready: an HTTP GET, or a TCP connect."""

    kind: Literal["http", "tcp"]
    port: int
    path: str | None = None


class PlannedSecret(_Frozen):
    """One key of a secret, resolved to the pipeline's secrets group.

    The group travels with the secret so a backend can find it without the pipeline.
    """

    group: str | None
    secret: str
    key: str

    @property
    def k8s_secret_name(self) -> str:
        """The Kubernetes Secret holding the key, named as Bodywork named it.

        ``bodywork create secret NAME --group GROUP`` stored ``GROUP-NAME``; without a
        group the Secret is just ``NAME``. Keeping the rule lets a 1.1 project reuse the
        Secrets it already has in its namespace.
        """
        return f"{self.group}-{self.secret}" if self.group else self.secret


class PlannedService(_Frozen):
    """What makes a stage a service: where it listens, how many copies, how it is probed."""

    port: int
    replicas: int = 1
    ingress: bool = False
    readiness: Probe
    # where the runner answers health checks for a served notebook (a module serves itself)
    readiness_path: str = "/healthz"
    predict_function: str = "predict"
    # limits the runner enforces on a notebook it serves (bodywork_runner.limits)
    max_body_bytes: int = 10_000_000
    max_connections: int = 100
    #: micro-batching of the predict function (0: off; bodywork_runner.batching)
    batch_max_size: int = 0
    batch_max_wait_ms: float = 5.0
    #: an example request body for people trying the service (the panel's "try it"), as
    #: the deployed version had it; the runner never reads it. None: none known
    example: JsonValue = None

    @model_validator(mode="after")
    def _probe_on_the_service_port(self) -> PlannedService:
        # the probe repeats the port for the backends' sake; it must never disagree
        if self.readiness.port != self.port:
            raise ValueError(
                f"readiness probe port {self.readiness.port} is not the service port {self.port}"
            )
        return self


class PlannedSource(_Frozen):
    """Where the code comes from; the typed twin of ``bodywork_runner.spec.Source``."""

    repo: str | None = None  # git URL
    commit: str | None = None  # full SHA: never a branch head
    local_path: str | None = None  # a folder on this machine, used as is
    project_dir: str = "."  # the folder holding bodywork.yaml, relative to the checkout

    def to_runner(self) -> Source:
        return Source(
            repo=self.repo,
            commit=self.commit,
            local_path=self.local_path,
            project_dir=self.project_dir,
        )

    @classmethod
    def from_runner(cls, source: Source) -> PlannedSource:
        return cls(
            repo=source.repo,
            commit=source.commit,
            local_path=source.local_path,
            project_dir=source.project_dir,
        )


class PlannedStage(_Frozen):
    """One stage with nothing left to look up: everything but per-attempt placement."""

    name: str
    k8s_name: str
    kind: StageKind
    depends_on: tuple[str, ...] = ()
    image: str
    resources: Resources = Resources()
    retries: RetryPolicy = RetryPolicy()
    timeout_seconds: float | None = None
    file: str = Field(description="The notebook or module, relative to the project dir.")
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, PlannedSecret] = Field(default_factory=dict)  # ENV_VAR -> secret
    requirements: tuple[str, ...] = ()
    requirements_file: str | None = None  # relative to the project dir
    python: str | None = None  # the Python the stage needs, e.g. "3.9" (None: the runner's)
    service: PlannedService | None = None

    @model_validator(mode="after")
    def _service_iff_kind(self) -> PlannedStage:
        if (self.kind == "service") != (self.service is not None):
            raise ValueError(f"stage {self.name}: kind {self.kind!r} and service do not agree")
        return self

    @property
    def is_notebook(self) -> bool:
        return self.file.endswith(".ipynb")

    @property
    def serves_itself(self) -> bool:
        """A module that starts its own server on the declared port (Bodywork's way)."""
        return self.service is not None and not self.is_notebook

    @property
    def port(self) -> int | None:
        return self.service.port if self.service else None

    @property
    def replicas(self) -> int:
        return self.service.replicas if self.service else 1


class Plan(_Frozen):
    """A whole pipeline, planned: ``order`` runs ``stages``; ``run_on_failure`` is outside it."""

    pipeline: str
    k8s_name: str
    namespace: str | None = None
    schedule: str | None = None
    source: PlannedSource
    log_level: str = "INFO"
    secrets_group: str | None = None
    #: Secrets a cluster pulls the stage images with, besides the namespace's: the
    #: pipeline's (bodywork.yaml), then those the deploy or export was given, each once
    image_pull_secrets: tuple[str, ...] = ()
    #: RFC 3339 (UTC): the stages' requirements are resolved as of then (None: as of now)
    requirements_as_of: str | None = None
    order: tuple[str, ...]
    stages: dict[str, PlannedStage]
    run_on_failure: PlannedStage | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if sorted(self.order) != sorted(self.stages):
            raise ValueError(
                f"order {list(self.order)} does not list the stages {list(self.stages)}"
            )
        # PlannedSecret.group repeats secrets_group so that a stage stands alone: keep them equal
        every = [*self.stages.values(), *([self.run_on_failure] if self.run_on_failure else [])]
        for stage in every:
            for env, secret in stage.secrets.items():
                if secret.group != self.secrets_group:
                    raise ValueError(
                        f"stage {stage.name}: secret {env} is in group {secret.group!r}, "
                        f"not the plan's secrets_group {self.secrets_group!r}"
                    )
        return self
