"""Raw schema models (1.1 or 2.0) -> the version-free Stage of the Pipeline model."""

from __future__ import annotations

from bodywork_jupyter.pipeline.model import (
    Resources,
    RetryPolicy,
    SecretRef,
    ServiceSpec,
    Stage,
)
from bodywork_jupyter.pipeline.schema_v1 import StageV1
from bodywork_jupyter.pipeline.schema_v2 import StageV2


def stage_from_v1(name: str, stage: StageV1, path: str, depends_on: tuple[str, ...]) -> Stage:
    common = Stage(
        name=name,
        kind="batch",
        path=path,
        depends_on=depends_on,
        args=tuple(stage.args),
        secrets={env: SecretRef(secret=secret, key=env) for env, secret in stage.secrets.items()},
        requirements=tuple(stage.requirements),
        resources=Resources(
            cpu_request=stage.cpu_request, memory_request_mb=stage.memory_request_mb
        ),
    )
    if stage.batch is not None:
        return common.model_copy(
            update={
                "timeout_seconds": float(stage.batch.max_completion_time_seconds),
                # Bodywork handed retries to a Job's backoffLimit: 10 s doubling, at most 6 min.
                "retries": RetryPolicy(count=stage.batch.retries, max_backoff_seconds=360.0),
            }
        )
    assert stage.service is not None
    return common.model_copy(
        update={
            "kind": "service",
            "timeout_seconds": float(stage.service.max_startup_time_seconds),
            "service": ServiceSpec(
                port=stage.service.port,
                replicas=stage.service.replicas,
                ingress=stage.service.ingress,
            ),
        }
    )


def stage_from_v2(
    name: str,
    stage: StageV2,
    kind: str,
    path: str,
    depends_on: tuple[str, ...],
    requirements_file: str | None,
) -> Stage:
    retries = (
        RetryPolicy(count=stage.retries)
        if isinstance(stage.retries, int)
        else RetryPolicy(
            count=stage.retries.count,
            backoff_seconds=float(stage.retries.backoff),
            backoff_factor=stage.retries.backoff_factor,
            max_backoff_seconds=float(stage.retries.max_backoff),
        )
    )
    service = None
    if kind == "service":
        spec = stage.service
        service = ServiceSpec(
            port=spec.port if spec else 8000,
            replicas=spec.replicas if spec else 1,
            readiness_path=spec.readiness_path if spec else None,
            ingress=spec.ingress if spec else False,
            predict_function=spec.predict_function if spec else "predict",
            max_body_mb=spec.max_body_mb if spec else 10.0,
            max_connections=spec.max_connections if spec else 100,
            batch_max_size=spec.batch.max_size if spec and spec.batch else 0,
            batch_max_wait_ms=spec.batch.max_wait_ms if spec and spec.batch else 5.0,
            example=spec.example if spec else None,
        )
    return Stage(
        name=name,
        kind="service" if kind == "service" else "batch",
        path=path,
        depends_on=depends_on,
        args=tuple(stage.args),
        parameters=dict(stage.parameters),
        env={k: _env_text(v) for k, v in stage.env.items()},
        secrets={
            env: SecretRef(secret=ref, key=env)
            if isinstance(ref, str)
            else SecretRef(secret=ref.secret, key=ref.key or env)
            for env, ref in stage.secrets.items()
        },
        requirements=tuple(stage.requirements) if isinstance(stage.requirements, list) else (),
        requirements_file=requirements_file,
        image=stage.image,
        resources=Resources(**stage.resources.model_dump()),
        timeout_seconds=float(stage.timeout) if stage.timeout is not None else None,
        retries=retries,
        service=service,
        python=stage.python,
    )


def _env_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
