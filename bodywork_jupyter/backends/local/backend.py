"""The local backend: every stage attempt is a runner process on this machine.

Batch stages are one process each. A notebook service runs ``replicas`` runner
processes on free loopback ports behind a proxy on its declared port; a module
that starts its own server (Bodywork's way) binds the declared port itself, so
it runs as one process here (on Kubernetes every replica has its own address).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.local.process import RunnerProcess
from bodywork_jupyter.backends.local.proxy import Proxy
from bodywork_jupyter.engine.backend import EventSink, Outcome, RunContext
from bodywork_jupyter.plan.model import PlannedStage

READY_POLL_SECONDS = 0.1


@dataclass
class LocalHandle:
    stage: str
    attempt: int
    log_path: str
    kind: str
    processes: list[RunnerProcess]
    port: int | None = None
    replica_ports: list[int] = field(default_factory=list)
    serves_itself: bool = False
    url: str | None = None
    notebook_path: str | None = None


class LocalBackend:
    def __init__(self, secrets_env: dict[str, str] | None = None) -> None:
        self.proxies: dict[int, Proxy] = {}
        self.secrets_env = secrets_env if secrets_env is not None else {}

    # -- the Backend protocol --------------------------------------------------------------------

    async def start(
        self, stage: PlannedStage, attempt: int, ctx: RunContext, sink: EventSink
    ) -> LocalHandle:
        attempt_dir = Path(ctx.run_dir) / stage.name / f"attempt-{attempt}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        log_path = attempt_dir / "log.txt"
        handle = LocalHandle(stage.name, attempt, str(log_path), stage.kind, [])
        replicas = 1
        ports: list[int | None] = [None]
        if stage.kind == "service":
            handle.port = stage.port
            handle.serves_itself = stage.serves_itself
            if stage.serves_itself:
                if stage.replicas > 1:
                    note = (
                        f"{stage.name} starts its own server on port {stage.port}, so it runs "
                        f"as 1 process on this machine (replicas: {stage.replicas} applies on "
                        "Kubernetes, where every replica has its own address)"
                    )
                    _note(log_path, note)
                    sink("note", {"message": note})
                ports = [stage.port]
            else:
                replicas = max(1, stage.replicas)
                ports = [_free_port() for _ in range(replicas)]
                handle.replica_ports = [p for p in ports if p is not None]
        for index, port in enumerate(ports):
            spec = self._spec(stage, attempt, ctx, attempt_dir, port, index)
            spec_path = attempt_dir / (f"spec-{index}.json" if replicas > 1 else "spec.json")
            spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
            process = RunnerProcess(
                spec_path,
                log_path if index == 0 else attempt_dir / f"log-{index}.txt",
                self._env(ctx),
                Path(ctx.run_dir),
            )
            process.on_event(lambda event: sink(str(event.get("event")), event))
            await process.start()
            handle.processes.append(process)
        handle.notebook_path = (
            str(attempt_dir / f"{stage.name}.ipynb")
            if stage.spec["file"].endswith(".ipynb")
            else None
        )
        return handle

    async def watch(self, handle: LocalHandle) -> Outcome:
        if handle.kind == "batch":
            process = handle.processes[0]
            code = await process.wait()
            details = {"notebook_path": handle.notebook_path} if handle.notebook_path else {}
            if code == 0:
                return Outcome(True, exit_code=0, details=details)
            return _failure(process, code, details)
        ready = await asyncio.gather(*(p.wait_for_event("service.ready") for p in handle.processes))
        for process, event in zip(handle.processes, ready, strict=True):
            if event is None:
                code = await process.wait()
                return _failure(process, code, {})
        if handle.serves_itself:
            handle.url = f"http://127.0.0.1:{handle.port}"
        else:
            assert handle.port is not None
            proxy = await self._proxy(handle.port)
            proxy.set_backends(handle.replica_ports)
            handle.url = proxy.url
        return Outcome(True, details={"url": handle.url})

    async def stop(self, handle: LocalHandle, grace_seconds: float = 10.0) -> None:
        proxy = self.proxies.get(handle.port or -1)
        if proxy is not None and set(proxy.backends) & set(handle.replica_ports):
            proxy.set_backends([p for p in proxy.backends if p not in handle.replica_ports])
            if not proxy.backends:
                await proxy.close()
                del self.proxies[proxy.port]
        await asyncio.gather(*(p.stop(grace_seconds) for p in handle.processes))

    def logs(self, handle: LocalHandle) -> str:
        return handle.log_path

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

    def _spec(
        self,
        stage: PlannedStage,
        attempt: int,
        ctx: RunContext,
        attempt_dir: Path,
        port: int | None,
        replica: int = 0,
    ) -> dict[str, Any]:
        spec = dict(stage.spec)
        spec.update(
            run_id=ctx.run_id,
            attempt=attempt,
            # every replica checks out its own copy: they start at the same moment
            work_dir=str(attempt_dir / ("code" if replica == 0 else f"code-{replica}")),
            artifacts_dir=str(attempt_dir),
            cache_dir=ctx.cache_dir,
        )
        spec["env"] = {**spec.get("env", {}), "BODYWORK_DATA_DIR": ctx.data_dir}
        if port is not None and spec.get("service"):
            host = "0.0.0.0" if stage.serves_itself else "127.0.0.1"
            spec["service"] = {**spec["service"], "port": port, "host": host}
        return spec

    def _env(self, ctx: RunContext) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.secrets_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _failure(process: RunnerProcess, code: int, details: dict[str, Any]) -> Outcome:
    event = process.last_event("stage.failed") or {}
    reason = str(event.get("reason") or ("exit" if code else "error"))
    message = str(event.get("message") or f"the runner exited with code {code}")
    extra: dict[str, Any] = {k: event[k] for k in ("cell", "ename", "evalue") if k in event}
    return Outcome(False, reason, message, exit_code=code, details={**details, **extra})


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _note(log_path: Path, text: str) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"[bodywork] {text}\n")
