"""Python module stages: ``python FILE ARGS`` as a batch job, or as a service it starts itself.

A module runs as Bodywork ran it: from its own folder (so it reads the files next to it
by their names), with the project on ``PYTHONPATH`` (so it imports the repository's
packages): the folder holding bodywork.yaml and, when that is a subfolder, the
repository's root too.

A service is ready once its port takes connections **from the module's own processes**:
a port answered by another program does not count (``bodywork_runner.ports``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bodywork_runner import ports
from bodywork_runner.errors import StageFailed
from bodywork_runner.events import Emitter
from bodywork_runner.process import Child, describe_exit
from bodywork_runner.spec import ServiceSettings, StageSpec
from bodywork_runner.stopping import Stopper

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ModulePlace:
    """Where a module's code is: the project folder (bodywork.yaml) and its checkout's root."""

    project_dir: Path
    code_root: Path

    def module(self, spec: StageSpec) -> Path:
        return self.project_dir / spec.file

    def working_dir(self, spec: StageSpec) -> Path:
        return self.module(spec).parent

    def import_path(self, inherited: str | None = None) -> str:
        """``PYTHONPATH``: the project, the repository's root, then what was there before."""
        entries = [str(self.project_dir), str(self.code_root), *(inherited or "").split(os.pathsep)]
        return os.pathsep.join(dict.fromkeys(e for e in entries if e))


def run_batch_module(
    spec: StageSpec, place: ModulePlace, python: str, emitter: Emitter, stopper: Stopper
) -> None:
    """Runs the module to its end; raises StageFailed unless it exits 0."""
    child = _start(spec, place, python)
    deadline = time.monotonic() + spec.timeout_seconds if spec.timeout_seconds else None
    while (code := child.wait(POLL_SECONDS)) is None:
        if deadline is not None and time.monotonic() > deadline:
            stopper.request("timeout", f"the stage ran longer than {spec.timeout_seconds:g} s")
        if stopper.event.is_set():
            child.stop()
            raise stopper.failure()
    if code != 0:
        why = child.why()  # the exception it died of: one line that says what went wrong
        raise StageFailed("exit", f"{spec.file} {describe_exit(code)}{why}", exit_code=code)


def run_service_module(
    spec: StageSpec, place: ModulePlace, python: str, emitter: Emitter, stopper: Stopper
) -> None:
    """Runs the module until it is stopped; ``service.ready`` once it answers on its port.

    Returns normally when the runner was asked to stop (SIGTERM); raises StageFailed when
    the port is taken before the module starts, or when the service exits by itself.
    """
    settings = spec.service or ServiceSettings(port=5000)
    if not _wait_for_port(settings, emitter, stopper):
        if stopper.event.is_set():
            return
        raise StageFailed("error", f"{_held(settings.port)} - {_FIX}")
    child = _start(spec, place, python)
    ready = warned = False
    while (code := child.wait(POLL_SECONDS)) is None:
        if stopper.event.is_set():
            child.stop()
            return
        if ready or not _accepts(settings):
            continue
        if ports.listening_in_tree(settings.port, child.pid) is False:
            if not warned:  # another program took the port after the check above
                log.warning("%s, not by %s: not ready", _held(settings.port), spec.file)
                warned = True
            continue
        ready = True
        emitter.emit("service.ready", url=service_url(settings))
    message = f"the service {spec.file} {describe_exit(code)}{child.why()}"
    if not ready and not ports.port_free(settings.port, settings.host):
        message += f" ({_held(settings.port)} - {_FIX})"
    raise StageFailed("exit", message, exit_code=code)


_FIX = "stop it, or give the service another port"


def _wait_for_port(settings: ServiceSettings, emitter: Emitter, stopper: Stopper) -> bool:
    """Whether the port is free, waiting up to ``port_wait_seconds`` for it.

    On one machine a module's old version holds the port while the new one is built: the
    new one says it is ready to take the port (``service.port_wanted``), its supervisor
    stops the old one, and the module starts the moment the port is free.
    """
    free = ports.port_free(settings.port, settings.host)
    if free or settings.port_wait_seconds <= 0:
        return free
    emitter.emit("service.port_wanted", port=settings.port)
    deadline = time.monotonic() + settings.port_wait_seconds
    while time.monotonic() < deadline and not stopper.event.is_set():
        if ports.port_free(settings.port, settings.host):
            return True
        stopper.event.wait(POLL_SECONDS / 2)
    return False


def _held(port: int) -> str:
    holder = ports.holder(port)
    return f"port {port} is in use by {holder.describe() if holder else 'another program'}"


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


def _start(spec: StageSpec, place: ModulePlace, python: str) -> Child:
    # as Bodywork ran it: from the module's own folder, the repository importable
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=place.import_path(os.environ.get("PYTHONPATH")),
    )
    command = [python, str(place.module(spec)), *spec.args]
    log.info("running %s", " ".join([Path(python).name, spec.file, *spec.args]))
    return Child(command, place.working_dir(spec), env)
