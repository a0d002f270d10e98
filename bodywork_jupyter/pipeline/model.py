"""The Pipeline: one typed model, whichever version of bodywork.yaml it came from.

Nothing downstream (plan, engine, backends, surfaces) knows the file format.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

StageKind = Literal["batch", "service"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(_Frozen):
    secret: str
    key: str


class Resources(_Frozen):
    cpu_request: float | None = None
    cpu_limit: float | None = None
    memory_request_mb: int | None = None
    memory_limit_mb: int | None = None
    gpu: int = 0


class RetryPolicy(_Frozen):
    """``count`` retries after the first attempt; waits grow by ``backoff_factor``."""

    count: int = 0
    backoff_seconds: float = 10.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 300.0

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        delay = self.backoff_seconds * self.backoff_factor ** (retry - 1)
        return float(min(delay, self.max_backoff_seconds))


class ServiceSpec(_Frozen):
    port: int
    replicas: int = 1
    readiness_path: str | None = None  # None: the runner's default (see schema_v2)
    ingress: bool = False
    predict_function: str = "predict"
    max_body_mb: float = 10.0  # the limits of a notebook service (see schema_v2)
    max_connections: int = 100
    #: micro-batching of the predict function: at most this many requests a call (0: off),
    #: the first waiting at most ``batch_max_wait_ms`` for others
    batch_max_size: int = 0
    batch_max_wait_ms: float = 5.0
    #: an example request body: bodywork.yaml's (2.0), else inferred from the stage's file
    #: when it is deployed (``service_examples.with_examples``); None: none known
    example: JsonValue = None


class Stage(_Frozen):
    name: str
    kind: StageKind
    path: str = Field(description="POSIX path relative to the pipeline's root folder.")
    depends_on: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    requirements_file: str | None = None
    image: str | None = None
    resources: Resources = Resources()
    timeout_seconds: float | None = None
    retries: RetryPolicy = RetryPolicy()
    service: ServiceSpec | None = None
    python: str | None = None  # the Python the stage needs (None: the pipeline's)

    @property
    def is_notebook(self) -> bool:
        return self.path.endswith(".ipynb")


class Pipeline(_Frozen):
    name: str
    #: the file's version, for display: "1.0" (Bodywork 2.x's) is read as 1.1
    source_version: Literal["1.0", "1.1", "2.0"]
    config_file: str = Field(description="Absolute path of the bodywork.yaml it was read from.")
    root: str = Field(description="Absolute path of the project folder (bodywork.yaml's).")
    image: str | None = None
    #: Secret names a cluster pulls the images with (2.0's pipeline.image_pull_secrets)
    image_pull_secrets: tuple[str, ...] = ()
    namespace: str | None = None
    secrets_group: str | None = None
    schedule: str | None = None
    run_on_failure: str | None = None
    log_level: str = "INFO"
    python: str | None = None  # the stages' Python (None: the runner's)
    #: resolve requirements as of: "commit" (its date) or "YYYY-MM-DD"; None: as of now
    requirements_as_of: str | None = None
    stages: dict[str, Stage]

    def dag_stages(self) -> list[Stage]:
        """The stages that run in the DAG (everything but the run_on_failure stage)."""
        return [s for n, s in self.stages.items() if n != self.run_on_failure]

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        return {s.name: s.depends_on for s in self.dag_stages()}
