"""The local backend: every stage attempt is a runner process on this machine.

Batch stages are one process each. A notebook service runs ``replicas`` runner
processes that share the listening socket of its declared port, which this backend
binds (``listener.SharedListener``): each replica accepts from it itself, so nothing
stands between a client and a replica. Each replica also listens on a free loopback port
of its own (its readiness, and a way to reach one replica). A module that starts its own
server (Bodywork's way) binds the declared port itself, so it runs as one process here
(on Kubernetes every replica has its own address).

Which version of a service takes its port's traffic is decided here and nowhere else
(``serving``): a service's first version as soon as it is ready (a later stage of the
same run reaches it, as on a cluster); a new version only when its supervisor
``switch``es to it, once the whole run that brought it has settled. A replica accepts from
the shared socket only once its version has the port (``RunnerProcess.take_traffic``): a
new version that fails, or is stopped, never had the port, so the old one serves on, and
what arrives during a switch waits in the socket's backlog for whichever replica accepts.

A module binds its port itself: its new version is built (code, requirements) while the
old one serves, then asks for the port (``service.port_wanted``) and the backend makes
room (``make_room``: the supervisor stops the old version), so the gap is the module's
start alone; if the new version fails, the supervisor starts the old one again.

An attempt's code checkout is removed once the attempt is over: its log and its
executed notebook stay in the run's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.local import layout, port_checks
from bodywork_jupyter.backends.local.listener import SharedListener
from bodywork_jupyter.backends.local.process import RunnerProcess
from bodywork_jupyter.backends.local.secret_store import SecretStore
from bodywork_jupyter.backends.local.stage_env import inherited, stage_environment
from bodywork_jupyter.engine.backend import Attempt, EventSink, HandleRef, Outcome, StopReason
from bodywork_jupyter.engine.replicas import LOG_TAIL_LINES, ReplicaExit
from bodywork_jupyter.plan import Placement, PlannedStage, runner_spec
from bodywork_runner.events import EVENT_PREFIX
from bodywork_runner.process import describe_exit


@dataclass
class LocalHandle:
    run_id: str
    stage: str
    attempt: int
    kind: str
    attempt_dir: Path
    processes: list[RunnerProcess]
    port: int | None = None
    replica_ports: list[int] = field(default_factory=list)
    serves_itself: bool = False
    url: str | None = None
    notebook: str | None = None  # the executed notebook's file name in the attempt folder
    #: stop() was called: its processes end on purpose, which is no exit to report
    stopping: bool = False

    def code_dirs(self) -> list[Path]:
        return sorted(self.attempt_dir.glob("code*"))


#: How long a module's new version waits for its old version to free the port.
PORT_WAIT_SECONDS = 60.0

#: Called with the version that holds a port a new version of its module wants.
MakeRoom = Callable[["LocalHandle"], Awaitable[None]]


class LocalBackend:
    def __init__(self, state_dir: Path, make_room: MakeRoom | None = None) -> None:
        self.state_dir = state_dir
        #: port -> the shared socket of a notebook service's declared port, and the
        #: handles (by id) of the versions whose replicas hold it
        self.listeners: dict[int, SharedListener] = {}
        self._holders: dict[int, set[int]] = {}
        #: port -> the service version that takes its traffic
        self.serving: dict[int, LocalHandle] = {}
        self.secrets = SecretStore(state_dir)
        self._make_room = make_room

    # -- the Backend protocol --------------------------------------------------------------------

    async def start(self, attempt: Attempt, sink: EventSink) -> LocalHandle:
        stage = attempt.stage
        env = self._env(stage)  # its secrets, read now: one gone since the deploy starts nothing
        folder = layout.attempt_dir(self.state_dir, attempt.run_id, stage.name, attempt.number)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / layout.LOG
        handle = LocalHandle(attempt.run_id, stage.name, attempt.number, stage.kind, folder, [])
        # a port our own serving version holds is fine: the new version takes it over
        ours = stage.port is not None and stage.port in self.serving
        if stage.service is not None and not ours and stage.port not in self.listeners:
            taken = port_checks.port_taken(stage)
            if taken is not None:
                raise taken  # before any process: the engine fails the stage with it
        ports: list[int | None] = [None]
        shared: SharedListener | None = None
        if stage.service is not None:
            handle.port = stage.service.port
            handle.serves_itself = stage.serves_itself
            if stage.serves_itself:
                if stage.service.replicas > 1:
                    note = (
                        f"{stage.name} starts its own server on port {stage.service.port}, so it "
                        f"runs as 1 process on this machine (replicas: {stage.service.replicas} "
                        "applies on Kubernetes, where every replica has its own address)"
                    )
                    _note(log_path, note)
                    sink("note", {"message": note})
                ports = [stage.service.port]
            else:
                shared = self._listener(stage.service.port, handle)  # may raise: taken
                ports = [_free_port() for _ in range(max(1, stage.service.replicas))]
                handle.replica_ports = [p for p in ports if p is not None]
        try:
            await self._start_processes(attempt, handle, ports, ours, env, shared, sink)
        except BaseException:
            if handle.port is not None and shared is not None:
                self._release_listener(handle.port, handle)  # it took the port for nothing
            raise
        handle.notebook = f"{stage.name}.ipynb" if stage.is_notebook else None
        return handle

    async def _start_processes(
        self,
        attempt: Attempt,
        handle: LocalHandle,
        ports: list[int | None],
        ours: bool,
        env: dict[str, str],
        shared: SharedListener | None,
        sink: EventSink,
    ) -> None:
        stage, folder = attempt.stage, handle.attempt_dir
        log_path = folder / layout.LOG
        data = layout.data_dir(self.state_dir, attempt.deployment)
        data.mkdir(parents=True, exist_ok=True)
        cache = layout.cache_dir(self.state_dir)
        cache.mkdir(parents=True, exist_ok=True)
        for index, port in enumerate(ports):
            placement = Placement(
                run_id=attempt.run_id,
                attempt=attempt.number,
                extra_env={**attempt.extra_env, "BODYWORK_DATA_DIR": str(data)},
                # every replica checks out its own copy: they start at the same moment
                work_dir=str(folder / ("code" if index == 0 else f"code-{index}")),
                artifacts_dir=str(folder),
                cache_dir=str(cache),
                listen_host=None if port is None else _host(stage.serves_itself),
                listen_port=port,
                port_wait_seconds=PORT_WAIT_SECONDS if ours and stage.serves_itself else 0.0,
            )
            spec = runner_spec(attempt.plan, stage, placement)
            spec_path = folder / (f"spec-{index}.json" if len(ports) > 1 else "spec.json")
            spec_path.write_text(spec.to_json(), encoding="utf-8")
            process = RunnerProcess(
                spec_path,
                log_path if index == 0 else folder / f"log-{index}.txt",
                env,
                folder.parents[1],  # the run's folder
                shared_fd=None if shared is None else shared.fileno,
            )
            process.on_event(lambda event: sink(str(event.get("event")), event))
            await process.start()
            handle.processes.append(process)

    async def watch(self, handle: LocalHandle) -> Outcome:
        if handle.kind == "batch":
            process = handle.processes[0]
            code = await process.wait()
            _remove(handle.code_dirs())
            if code == 0:
                return Outcome(True, exit_code=0, notebook=handle.notebook)
            return _failure(process, code, handle.notebook)
        assert handle.port is not None
        if handle.serves_itself:
            await self._port_wanted(handle)
        ready = await asyncio.gather(*(p.wait_for_event("service.ready") for p in handle.processes))
        for process, event in zip(handle.processes, ready, strict=True):
            if event is None:
                code = await process.wait()
                return _failure(process, code, None)
        if handle.serves_itself:
            # ready only if the module's own processes answer, not another program
            why = port_checks.not_ours(handle.stage, handle.port, handle.processes[0].pid)
            if why is not None:
                return Outcome(False, "error", why)
            handle.url = f"http://127.0.0.1:{handle.port}"
            self.serving[handle.port] = handle  # the one port: it is the one answering now
        else:
            if handle.port not in self.serving:  # the first version serves once ready
                self.serving[handle.port] = handle
                for process in handle.processes:
                    process.take_traffic()
            handle.url = self.listeners[handle.port].url
        return Outcome(True, url=handle.url)

    def switch(self, handle: LocalHandle) -> LocalHandle | None:
        """Give ``handle``'s port to it (its run has settled); the version that had the port
        is returned, to be stopped (it drains: its connections finish)."""
        if handle.port is None:
            return None
        before = self.serving.get(handle.port)
        self.serving[handle.port] = handle
        # the old version's replicas accept on until they are stopped; a replica of the new
        # one that is not ready (restarting) is told once it is (replica_ready)
        for process in handle.processes:
            process.take_traffic()
        return None if before is handle else before

    async def _port_wanted(self, handle: LocalHandle) -> None:
        """A module's new version is built and waits for its port: stop the old one."""
        process = handle.processes[0]
        event = await process.wait_for_event("service.port_wanted", "service.ready")
        if event is None or event.get("event") != "service.port_wanted":
            return
        assert handle.port is not None
        old = self.serving.get(handle.port)
        if old is None or old is handle:
            return
        if self._make_room is not None:
            await self._make_room(old)
        else:
            await self.stop(old, "replaced")

    async def stop(
        self, handle: LocalHandle, reason: StopReason = "deleted", grace_seconds: float = 10.0
    ) -> None:
        # every reason means the same here: this attempt's processes go (a rollback is the
        # old version's processes staying, which the supervisor decides)
        handle.stopping = True
        port = handle.port
        if port is not None and self.serving.get(port) is handle:
            del self.serving[port]  # nothing serves on it any more
        await asyncio.gather(*(p.stop(grace_seconds) for p in handle.processes))
        if port is not None:
            self._release_listener(port, handle)
        _remove(handle.code_dirs())

    def ref(self, handle: LocalHandle) -> HandleRef:
        return {
            "backend": "local",
            "run_id": handle.run_id,
            "stage": handle.stage,
            "attempt": handle.attempt,
            "pids": [p.pid for p in handle.processes],
            "port": handle.port,
            "replica_ports": list(handle.replica_ports),
        }

    async def attach(self, ref: HandleRef) -> LocalHandle | None:
        """Always None here: a runner process dies with the supervisor that started it
        (``PR_SET_PDEATHSIG``), so no local attempt outlives the engine that drove it."""
        return None

    # -- keeping a ready service's replicas (engine.replicas.ReplicaBackend) ---------------------

    def exited_replicas(self, handle: LocalHandle) -> list[int]:
        if handle.stopping or handle.kind != "service":
            return []
        # a replica that ended accepts nothing more: the others take the shared socket's
        return [i for i, p in enumerate(handle.processes) if p.returncode is not None]

    def replica_exit(self, handle: LocalHandle, replica: int) -> ReplicaExit:
        process = handle.processes[replica]
        failed = process.last_event("stage.failed") or {}
        # a module's runner says the module's own exit code; a notebook's runner is the server
        code = failed.get("exit_code", process.returncode)
        what = describe_exit(int(code)) if code is not None else "ended"
        tail = _masked(_log_tail(process.log_path), _secret_values(process.env))
        return ReplicaExit(replica, None if code is None else int(code), what, tail)

    def replica_note(self, handle: LocalHandle, replica: int, text: str) -> None:
        _note(handle.processes[replica].log_path, text)

    async def restart_replica(self, handle: LocalHandle, replica: int) -> bool:
        if handle.stopping:
            return False
        old = handle.processes[replica]
        # the same spec, log, environment, folder and socket: its code is checked out again
        process = RunnerProcess(old.spec_path, old.log_path, old.env, old.cwd, old.shared_fd)
        await process.start()
        if handle.stopping:  # stopped while it started: stop() did not see this process
            await process.stop()
            return False
        handle.processes[replica] = process
        return True

    async def replica_ready(self, handle: LocalHandle, replica: int) -> bool:
        process = handle.processes[replica]
        if await process.wait_for_event("service.ready") is None or handle.stopping:
            return False
        if handle.port is not None and self.serving.get(handle.port) is handle:
            process.take_traffic()  # its version has the port: it takes its share again
        return True

    async def start_again(self, handle: LocalHandle) -> None:
        """Start a stopped service's processes again (a module's old version, stopped to
        free its port for a new version that then failed)."""
        handle.stopping = False
        if handle.port is not None:
            self.serving[handle.port] = handle
        for replica in range(len(handle.processes)):
            await self.restart_replica(handle, replica)

    # -- helpers ---------------------------------------------------------------------------------

    async def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        self._holders.clear()
        self.serving.clear()

    def _listener(self, port: int, handle: LocalHandle) -> SharedListener:
        """The shared socket of ``port`` (bound now if no version holds it), held by
        ``handle`` until it stops."""
        listener = self.listeners.get(port)
        if listener is None:
            listener = self.listeners[port] = SharedListener(port)
        self._holders.setdefault(port, set()).add(id(handle))
        return listener

    def _release_listener(self, port: int, handle: LocalHandle) -> None:
        """The port is freed once no version holds it and none serves on it."""
        holders = self._holders.get(port, set())
        holders.discard(id(handle))
        if holders or port in self.serving:
            return
        self._holders.pop(port, None)
        listener = self.listeners.pop(port, None)
        if listener is not None:
            listener.close()

    def _env(self, stage: PlannedStage) -> dict[str, str]:
        """What the stage inherits of this process's environment, and its secrets."""
        secrets = self.secrets.values(stage.name, stage.secrets)
        return stage_environment(os.environ, secrets)


def _host(serves_itself: bool) -> str:
    # a module binds its declared port for everyone, as on a cluster; a notebook replica's
    # own port is on loopback (the declared port is the shared socket's)
    return "0.0.0.0" if serves_itself else "127.0.0.1"


def _failure(process: RunnerProcess, code: int, notebook: str | None) -> Outcome:
    event = process.last_event("stage.failed") or {}
    reason = str(event.get("reason") or ("exit" if code else "error"))
    message = str(event.get("message") or f"the runner exited with code {code}")
    details: dict[str, Any] = {k: event[k] for k in ("cell", "ename", "evalue") if k in event}
    return Outcome(False, reason, message, exit_code=code, notebook=notebook, details=details)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES, chunk: int = 1 << 14) -> tuple[str, ...]:
    """The last ``lines`` lines the stage printed (no event lines, no notes of ours)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - chunk))
            text = log.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    if size > chunk:
        text = text[1:]  # it may start inside a line
    ours = (EVENT_PREFIX, _NOTE_PREFIX)
    printed = [line for line in text if line.strip() and not line.startswith(ours)]
    return tuple(printed[-lines:])


def _secret_values(env: dict[str, str]) -> list[str]:
    """The values in a stage's environment that it did not inherit: its secrets."""
    kept = inherited(env)
    return [v for k, v in env.items() if k not in kept and k != "PYTHONUNBUFFERED"]


def _masked(lines: tuple[str, ...], secrets: list[str]) -> tuple[str, ...]:
    """``lines`` without secret values: they go into the run's record."""
    for value in sorted((v for v in secrets if len(v) >= 4), key=len, reverse=True):
        lines = tuple(line.replace(value, "***") for line in lines)
    return lines


def _remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_NOTE_PREFIX = "[bodywork] "


def _note(log_path: Path, text: str) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"{_NOTE_PREFIX}{text}\n")
