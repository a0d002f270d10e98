"""The local backend: every stage attempt is a runner process on this machine.

Batch stages are one process each. A notebook service runs ``replicas`` runner
processes on free loopback ports behind a proxy on its declared port; a module
that starts its own server (Bodywork's way) binds the declared port itself, so
it runs as one process here (on Kubernetes every replica has its own address).

An attempt's code checkout is removed once the attempt is over: its log and its
executed notebook stay in the run's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.local import layout
from bodywork_jupyter.backends.local.process import RunnerProcess
from bodywork_jupyter.backends.local.proxy import Proxy
from bodywork_jupyter.engine.backend import Attempt, EventSink, HandleRef, Outcome, StopReason
from bodywork_jupyter.plan import Placement, runner_spec


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

    def code_dirs(self) -> list[Path]:
        return sorted(self.attempt_dir.glob("code*"))


class LocalBackend:
    def __init__(self, state_dir: Path, secrets_env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.proxies: dict[int, Proxy] = {}
        self.secrets_env = secrets_env if secrets_env is not None else {}

    # -- the Backend protocol --------------------------------------------------------------------

    async def start(self, attempt: Attempt, sink: EventSink) -> LocalHandle:
        stage = attempt.stage
        folder = layout.attempt_dir(self.state_dir, attempt.run_id, stage.name, attempt.number)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / layout.LOG
        handle = LocalHandle(attempt.run_id, stage.name, attempt.number, stage.kind, folder, [])
        ports: list[int | None] = [None]
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
                ports = [_free_port() for _ in range(max(1, stage.service.replicas))]
                handle.replica_ports = [p for p in ports if p is not None]
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
            )
            spec = runner_spec(attempt.plan, stage, placement)
            spec_path = folder / (f"spec-{index}.json" if len(ports) > 1 else "spec.json")
            spec_path.write_text(spec.to_json(), encoding="utf-8")
            process = RunnerProcess(
                spec_path,
                log_path if index == 0 else folder / f"log-{index}.txt",
                self._env(),
                folder.parents[1],  # the run's folder
            )
            process.on_event(lambda event: sink(str(event.get("event")), event))
            await process.start()
            handle.processes.append(process)
        handle.notebook = f"{stage.name}.ipynb" if stage.is_notebook else None
        return handle

    async def watch(self, handle: LocalHandle) -> Outcome:
        if handle.kind == "batch":
            process = handle.processes[0]
            code = await process.wait()
            _remove(handle.code_dirs())
            if code == 0:
                return Outcome(True, exit_code=0, notebook=handle.notebook)
            return _failure(process, code, handle.notebook)
        ready = await asyncio.gather(*(p.wait_for_event("service.ready") for p in handle.processes))
        for process, event in zip(handle.processes, ready, strict=True):
            if event is None:
                code = await process.wait()
                return _failure(process, code, None)
        if handle.serves_itself:
            handle.url = f"http://127.0.0.1:{handle.port}"
        else:
            assert handle.port is not None
            proxy = await self._proxy(handle.port)
            proxy.set_backends(handle.replica_ports)
            handle.url = proxy.url
        return Outcome(True, url=handle.url)

    async def stop(
        self, handle: LocalHandle, reason: StopReason = "deleted", grace_seconds: float = 10.0
    ) -> None:
        # every reason means the same here: this attempt's processes go (a rollback is the
        # old version's processes staying, which the supervisor decides)
        proxy = self.proxies.get(handle.port or -1)
        if proxy is not None and set(proxy.backends) & set(handle.replica_ports):
            proxy.set_backends([p for p in proxy.backends if p not in handle.replica_ports])
            if not proxy.backends:
                await proxy.close()
                del self.proxies[proxy.port]
        await asyncio.gather(*(p.stop(grace_seconds) for p in handle.processes))
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

    # -- helpers ---------------------------------------------------------------------------------

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.close()
        self.proxies.clear()

    async def _proxy(self, port: int) -> Proxy:
        if port not in self.proxies:
            proxy = Proxy(port)
            await proxy.start()
            self.proxies[port] = proxy
        return self.proxies[port]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.secrets_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _host(serves_itself: bool) -> str:
    # a module binds its declared port for everyone, as on a cluster; a notebook replica
    # listens on loopback behind the proxy
    return "0.0.0.0" if serves_itself else "127.0.0.1"


def _failure(process: RunnerProcess, code: int, notebook: str | None) -> Outcome:
    event = process.last_event("stage.failed") or {}
    reason = str(event.get("reason") or ("exit" if code else "error"))
    message = str(event.get("message") or f"the runner exited with code {code}")
    details: dict[str, Any] = {k: event[k] for k in ("cell", "ename", "evalue") if k in event}
    return Outcome(False, reason, message, exit_code=code, notebook=notebook, details=details)


def _remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _note(log_path: Path, text: str) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"[bodywork] {text}\n")
