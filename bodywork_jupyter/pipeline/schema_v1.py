"""The Bodywork 1.1 ``bodywork.yaml`` schema, with Bodywork's meaning.

These models describe the file exactly as Bodywork 3 read it, but strictly:
Bodywork silently ignored unknown keys, we report them (with a "did you mean").

Version 1.0, Bodywork 2.x's, is the same format but for the name of one section: 1.0's
``project`` is 1.1's ``pipeline`` (Bodywork 3.0 renamed it and added ``namespace`` and
``secrets_group`` to it, and notebooks as stages). A 1.0 file is read with these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PipelineV1(_Strict):
    name: Annotated[
        str,
        Field(pattern=r"^[a-zA-Z0-9.-]+$", description="Labels every resource of the pipeline."),
    ]
    docker_image: str = Field(description="The image every stage runs in.")
    DAG: str = Field(description="Steps separated by '>>', stages in a step by ','.")
    usage_stats: bool | None = Field(
        None, description="Accepted for compatibility and ignored: we never phone home."
    )
    run_on_failure: str | None = Field(None, description="A batch stage run when a run fails.")
    namespace: str | None = Field(None, description="The Kubernetes namespace to deploy to.")
    secrets_group: str | None = Field(None, description="The group stage secrets are read from.")


class BatchV1(_Strict):
    max_completion_time_seconds: int = Field(ge=0)
    retries: int = Field(ge=0)


class ServiceV1(_Strict):
    max_startup_time_seconds: int = Field(ge=0)
    replicas: int = Field(ge=0)
    port: int = Field(ge=1, le=65535)
    ingress: bool


class StageV1(_Strict):
    executable_module_path: str = Field(pattern=r".+\.(py|ipynb)$")
    args: list[str] = Field(default_factory=list)
    cpu_request: float = Field(ge=0)
    memory_request_mb: int = Field(ge=0)
    requirements: list[str] = Field(default_factory=list)
    secrets: dict[str, str] = Field(default_factory=dict)
    batch: BatchV1 | None = None
    service: ServiceV1 | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StageV1:
        if (self.batch is None) == (self.service is None):
            raise ValueError(
                "a stage needs exactly one of 'batch' or 'service' - "
                "add a 'batch:' section for a job or a 'service:' section for a server"
            )
        return self


class LoggingV1(_Strict):
    log_level: LogLevel


#: Top-level sections of a 1.1 file, all required (as in Bodywork).
SECTIONS_V1 = ("version", "pipeline", "stages", "logging")

#: The name of the pipeline section by version: 1.0 (Bodywork 2.x) called it ``project``.
PIPELINE_SECTION = {"1.0": "project", "1.1": "pipeline"}
