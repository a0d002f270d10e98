"""Python module stages: ``python FILE ARGS`` as a batch job, or as a service it starts itself."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

from bodywork_runner.errors import StageFailed
from bodywork_runner.events import Emitter
from bodywork_runner.process import Child, describe_exit
from bodywork_runner.spec import ServiceSettings, StageSpec
from bodywork_runner.stopping import Stopper

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1


def run_batch_module(
    spec: StageSpec, project_dir: Path, python: str, emitter: Emitter, stopper: Stopper
) -> None:
    """Runs the module to its end; raises StageFailed unless it exits 0."""
    child = _start(spec, project_dir, python)
    deadline = time.monotonic() + spec.timeout_seconds if spec.timeout_seconds else None
    while (code := child.wait(POLL_SECONDS)) is None:
        if deadline is not None and time.monotonic() > deadline:
            stopper.request("timeout", f"the stage ran longer than {spec.timeout_seconds:g} s")
        if stopper.event.is_set():
            child.stop()
            raise stopper.failure()
    if code != 0:
        raise StageFailed("exit", f"{spec.file} {describe_exit(code)}", exit_code=code)


def run_service_module(
    spec: StageSpec, project_dir: Path, python: str, emitter: Emitter, stopper: Stopper
) -> None:
    """Runs the module until it is stopped; ``service.ready`` once its port takes connections.

    Returns normally when the runner was asked to stop (SIGTERM); raises StageFailed when
    the service exits by itself.
    """
    settings = spec.service or ServiceSettings(port=5000)
    child = _start(spec, project_dir, python)
    ready = False
    while (code := child.wait(POLL_SECONDS)) is None:
        if stopper.event.is_set():
            child.stop()
            return
        if not ready and _accepts(settings):
            ready = True
            emitter.emit("service.ready", url=service_url(settings))
    raise StageFailed("exit", f"the service {spec.file} {describe_exit(code)}", exit_code=code)


def service_url(settings: ServiceSettings) -> str:
    return f"http://{_connect_host(settings.host)}:{settings.port}"


def _connect_host(host: str) -> str:
    if host in {"", "0.0.0.0"}:
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _accepts(settings: ServiceSettings) -> bool:
    host = _connect_host(settings.host).strip("[]")
    try:
        with socket.create_connection((host, settings.port), timeout=0.5):
            return True
    except OSError:
        return False


def _start(spec: StageSpec, project_dir: Path, python: str) -> Child:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [python, str(project_dir / spec.file), *spec.args]
    log.info("running %s", " ".join([Path(python).name, spec.file, *spec.args]))
    return Child(command, project_dir, env)
