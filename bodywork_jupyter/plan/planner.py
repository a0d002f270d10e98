"""Turn a Pipeline and a code source into a Plan (pure: no I/O).

The planner decides everything that does not depend on where or when a stage runs:
the image, the probes, the secrets' group. The runner's StageSpec is built later, per
attempt, by ``runner_spec``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bodywork_jupyter.pipeline.dag import k8s_name, topological_order
from bodywork_jupyter.pipeline.model import Pipeline, SecretRef, ServiceSpec, Stage
from bodywork_jupyter.plan.model import (
    Plan,
    PlannedSecret,
    PlannedService,
    PlannedSource,
    PlannedStage,
    Probe,
)
from bodywork_runner.spec import Source

#: The generic stage image (``bodywork image build``, or runner/Dockerfile; an operator
#: pushes it to their registry: docs/operators/stage-image.md).
DEFAULT_IMAGE = "ghcr.io/bodywork-jupyter/stage-runner:0.1"
#: Bodywork's own image cannot run our runner: 1.1 files that name it get ours.
BODYWORK_IMAGES = ("bodyworkml/bodywork-core",)
#: Where the runner answers health checks for a served notebook, unless the file says.
HEALTH_PATH = "/healthz"


def plan_pipeline(
    pipeline: Pipeline,
    source: Source | PlannedSource,
    image: str | None = None,
    *,
    python: str | None = None,
    requirements_as_of: str | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> Plan:
    """Resolve every stage: its image, probes, secrets, retries, timeouts and Python.

    ``python`` (``bodywork deploy --python``) replaces the pipeline's; a stage's own wins.
    ``requirements_as_of`` is the time the requirements are resolved as of (RFC 3339),
    decided by ``requirements_date`` from the pipeline, the deploy and the commit.
    ``image_pull_secrets`` (``--image-pull-secret``) come after the pipeline's; each once.
    """
    default_image = image or _pipeline_image(pipeline)
    group = pipeline.secrets_group
    default_python = python or pipeline.python

    def planned(stage: Stage) -> PlannedStage:
        return _plan_stage(stage, default_image, group, default_python)

    stages = {s.name: planned(s) for s in pipeline.dag_stages()}
    on_failure = None
    if pipeline.run_on_failure:
        on_failure = planned(pipeline.stages[pipeline.run_on_failure])
    if isinstance(source, Source):
        source = PlannedSource.from_runner(source)
    return Plan(
        pipeline=pipeline.name,
        k8s_name=k8s_name(pipeline.name).replace(".", "-"),
        namespace=pipeline.namespace,
        schedule=pipeline.schedule,
        source=source,
        log_level=pipeline.log_level,
        secrets_group=group,
        image_pull_secrets=_each_once(*pipeline.image_pull_secrets, *image_pull_secrets),
        requirements_as_of=requirements_as_of,
        order=tuple(topological_order(pipeline.dependencies())),
        stages=stages,
        run_on_failure=on_failure,
    )


def _each_once(*names: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _pipeline_image(pipeline: Pipeline) -> str:
    if pipeline.image and not pipeline.image.startswith(BODYWORK_IMAGES):
        return pipeline.image
    return DEFAULT_IMAGE


def _plan_stage(
    stage: Stage, image: str, group: str | None, python: str | None = None
) -> PlannedStage:
    return PlannedStage(
        name=stage.name,
        k8s_name=k8s_name(stage.name),
        kind=stage.kind,
        depends_on=stage.depends_on,
        image=stage.image or image,
        resources=stage.resources,
        retries=stage.retries,
        timeout_seconds=stage.timeout_seconds,
        file=stage.path,
        parameters=dict(stage.parameters),
        args=stage.args,
        env=dict(stage.env),
        secrets={env: _secret(ref, group) for env, ref in stage.secrets.items()},
        requirements=stage.requirements,
        requirements_file=stage.requirements_file,
        python=stage.python or python,
        service=_service(stage.service, stage.is_notebook) if stage.service else None,
    )


def _secret(ref: SecretRef, group: str | None) -> PlannedSecret:
    return PlannedSecret(group=group, secret=ref.secret, key=ref.key)


def _service(service: ServiceSpec, is_notebook: bool) -> PlannedService:
    """A notebook is served by the runner, which always answers HTTP on its health path.

    A module serves itself: it is probed on the path it declares, or by a TCP connect
    when it declares none (Bodywork services had no health endpoint).
    """
    health_path = service.readiness_path or HEALTH_PATH
    if is_notebook:
        readiness = Probe(kind="http", port=service.port, path=health_path)
    elif service.readiness_path:
        readiness = Probe(kind="http", port=service.port, path=service.readiness_path)
    else:
        readiness = Probe(kind="tcp", port=service.port)
    return PlannedService(
        port=service.port,
        replicas=service.replicas,
        ingress=service.ingress,
        readiness=readiness,
        readiness_path=health_path,
        predict_function=service.predict_function,
        max_body_bytes=round(service.max_body_mb * 1_000_000),  # MB: 10^6 bytes
        max_connections=service.max_connections,
        batch_max_size=service.batch_max_size,
        batch_max_wait_ms=service.batch_max_wait_ms,
        example=service.example,
    )
