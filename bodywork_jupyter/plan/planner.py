"""Turn a Pipeline and a code source into a Plan (pure: no I/O)."""

from __future__ import annotations

from bodywork_jupyter.pipeline.dag import k8s_name, topological_order
from bodywork_jupyter.pipeline.model import Pipeline, Stage
from bodywork_jupyter.plan.model import Plan, PlannedStage, Probe
from bodywork_runner.spec import ServiceSettings, Source, StageSpec

#: The generic stage image (built from runner/Dockerfile).
DEFAULT_IMAGE = "ghcr.io/bodywork-jupyter/stage-runner:0.1"
#: Bodywork's own image cannot run our runner: 1.1 files that name it get ours.
BODYWORK_IMAGES = ("bodyworkml/bodywork-core",)
HEALTH_PATH = "/healthz"


def plan_pipeline(pipeline: Pipeline, source: Source, image: str | None = None) -> Plan:
    """Resolve every stage: its runner spec, image, probes, retries and timeouts."""
    default_image = image or _pipeline_image(pipeline)
    stages = {
        s.name: _plan_stage(pipeline, s, source, default_image) for s in pipeline.dag_stages()
    }
    on_failure = None
    if pipeline.run_on_failure:
        on_failure = _plan_stage(
            pipeline, pipeline.stages[pipeline.run_on_failure], source, default_image
        )
    return Plan(
        pipeline=pipeline.name,
        k8s_name=k8s_name(pipeline.name).replace(".", "-"),
        namespace=pipeline.namespace,
        schedule=pipeline.schedule,
        source=_source_dict(source),
        order=tuple(topological_order(pipeline.dependencies())),
        stages=stages,
        run_on_failure=on_failure,
    )


def _pipeline_image(pipeline: Pipeline) -> str:
    if pipeline.image and not pipeline.image.startswith(BODYWORK_IMAGES):
        return pipeline.image
    return DEFAULT_IMAGE


def _plan_stage(pipeline: Pipeline, stage: Stage, source: Source, image: str) -> PlannedStage:
    service = stage.service
    readiness = None
    settings = None
    if service is not None:
        if stage.is_notebook:
            path = service.readiness_path or HEALTH_PATH
            readiness = Probe(kind="http", port=service.port, path=path)
        elif service.readiness_path:
            readiness = Probe(kind="http", port=service.port, path=service.readiness_path)
        else:
            readiness = Probe(kind="tcp", port=service.port)
        settings = ServiceSettings(
            port=service.port,
            readiness_path=service.readiness_path or HEALTH_PATH,
            predict_function=service.predict_function,
        )
    spec = StageSpec(
        pipeline=pipeline.name,
        stage=stage.name,
        kind=stage.kind,
        file=stage.path,
        source=source,
        parameters=dict(stage.parameters),
        args=list(stage.args),
        env=dict(stage.env),
        env_from_secrets=sorted(stage.secrets),
        requirements=list(stage.requirements),
        requirements_file=stage.requirements_file,
        timeout_seconds=stage.timeout_seconds,
        service=settings,
        log_level=pipeline.log_level,
    )
    return PlannedStage(
        name=stage.name,
        k8s_name=k8s_name(stage.name),
        kind=stage.kind,
        depends_on=stage.depends_on,
        image=stage.image or image,
        resources=stage.resources,
        retries=stage.retries,
        timeout_seconds=stage.timeout_seconds,
        secrets=dict(stage.secrets),
        replicas=service.replicas if service else 1,
        port=service.port if service else None,
        ingress=service.ingress if service else False,
        readiness=readiness,
        spec=_spec_dict(spec),
    )


def _spec_dict(spec: StageSpec) -> dict[str, object]:
    import json

    data: dict[str, object] = json.loads(spec.to_json())
    return data


def _source_dict(source: Source) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(source)
