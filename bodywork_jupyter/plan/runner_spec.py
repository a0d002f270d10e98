"""Plan + placement -> the runner's StageSpec: the one place a StageSpec is built.

The plan says what a stage is; a backend decides, per attempt, where it runs (the run
id, its folders, the address a service listens on). Keeping that split here means the
plan never carries per-run fields and every backend writes the same spec.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from bodywork_jupyter.plan.model import Plan, PlannedStage
from bodywork_jupyter.plan.service_urls import service_url_env
from bodywork_runner.spec import ServiceSettings, StageSpec

#: Where a service listens unless the backend says otherwise (every interface: a pod's IP).
DEFAULT_LISTEN_HOST = "0.0.0.0"


@dataclass(frozen=True)
class Placement:
    """What a backend decides for one attempt of one stage.

    ``extra_env`` is added to the stage's env (and wins over it); ``listen_host`` and
    ``listen_port`` replace the service's address (None keeps the planned port and
    ``0.0.0.0``), e.g. a free port per replica on one machine.
    """

    run_id: str
    attempt: int
    extra_env: Mapping[str, str] = field(default_factory=dict)
    work_dir: str | None = None
    artifacts_dir: str | None = None
    cache_dir: str | None = None
    listen_host: str | None = None
    listen_port: int | None = None
    #: the runner also sends the executed notebook in its events (the artifacts folder
    #: goes with the attempt, e.g. a pod's emptyDir)
    emit_notebook: bool = False
    #: the host each service stage is reached at, by stage name, for the stage's
    #: BODYWORK_SERVICE_<STAGE>_URL (None: this machine, 127.0.0.1; a cluster: Service names)
    service_hosts: Mapping[str, str] | None = None
    #: a module binding its own port waits up to this long for it (the old version
    #: still holds it on this machine until the new one is built)
    port_wait_seconds: float = 0.0
    #: a notebook service keeps taking connections this long once told to stop (a pod
    #: leaving a Service's endpoints)
    stop_delay_seconds: float = 0.0


def runner_spec(plan: Plan, stage: PlannedStage, placement: Placement) -> StageSpec:
    """The StageSpec the runner reads for this attempt of ``stage`` of ``plan``."""
    service = None
    if stage.service is not None:
        planned = stage.service
        port, host = placement.listen_port, placement.listen_host
        service = ServiceSettings(
            port=planned.port if port is None else port,
            host=DEFAULT_LISTEN_HOST if host is None else host,
            readiness_path=planned.readiness_path,
            predict_function=planned.predict_function,
            max_body_bytes=planned.max_body_bytes,
            max_connections=planned.max_connections,
            batch_max_size=planned.batch_max_size,
            batch_max_wait_ms=planned.batch_max_wait_ms,
            port_wait_seconds=placement.port_wait_seconds,
            stop_delay_seconds=placement.stop_delay_seconds,
        )
    return StageSpec(
        pipeline=plan.pipeline,
        stage=stage.name,
        kind=stage.kind,
        file=stage.file,
        source=plan.source.to_runner(),
        # a copy: the spec's dicts are mutable, the plan must not change through them
        parameters=copy.deepcopy(stage.parameters),
        args=list(stage.args),
        # the services' URLs first: the stage's own env may point one elsewhere
        env={**service_url_env(plan, placement.service_hosts), **stage.env, **placement.extra_env},
        env_from_secrets=sorted(stage.secrets),
        requirements=list(stage.requirements),
        requirements_file=stage.requirements_file,
        timeout_seconds=stage.timeout_seconds,
        service=service,
        run_id=placement.run_id,
        attempt=placement.attempt,
        work_dir=placement.work_dir,
        artifacts_dir=placement.artifacts_dir,
        cache_dir=placement.cache_dir,
        emit_notebook=placement.emit_notebook,
        python=stage.python,
        requirements_as_of=plan.requirements_as_of,
        log_level=plan.log_level,
    )
