"""The supervisor: one long-lived process per local deployment.

It outlives the CLI (and a Jupyter server): it runs the deployment's queued runs
with the engine, keeps its services running behind their proxies, restarts a
service replica that dies, and stops everything when the deployment is being
deleted (or on SIGTERM). Exactly one runs per deployment: it holds an exclusive
lock on the deployment's lock file. Its heartbeat in the store is how the local
target tells that it is alive.

A redeploy hands the supervisor a new run; the new services start beside the
old ones and traffic moves only once they are ready. If the new run fails, the
old version keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from bodywork_jupyter.backends.local import layout
from bodywork_jupyter.backends.local.backend import LocalBackend, LocalHandle
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.engine import Engine
from bodywork_jupyter.engine.store import RunStore
from bodywork_jupyter.plan.model import Plan

HEARTBEAT_SECONDS = 1.0
POLL_SECONDS = 0.25


def lock_path(store: RunStore, deployment: str) -> Path:
    path = layout.lock_file(store.state_dir, deployment)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def supervisor_running(store: RunStore, deployment: str) -> bool:
    """Whether a supervisor holds the deployment's lock (and so is alive)."""
    with lock_path(store, deployment).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def heartbeat_fresh(store: RunStore, deployment: str, within: float) -> bool:
    """Whether the deployment's supervisor wrote its heartbeat in the last ``within`` s."""
    record = store.get_deployment(deployment)
    beat = record.heartbeat if record is not None else None
    return beat is not None and time.time() - beat <= within


def spawn(store: RunStore, deployment: str) -> None:
    """Start a detached supervisor for ``deployment``.

    Twice removed (a launcher starts it and exits at once), so it belongs to no
    terminal or Jupyter server, and nobody is left to reap it as a zombie.
    """
    log = layout.supervisor_log(store.state_dir, deployment)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        launcher = subprocess.Popen(
            [*_command(store, deployment), "--detach"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        launcher.wait()


def _command(store: RunStore, deployment: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bodywork_jupyter.backends.local.supervisor",
        "--state-dir",
        str(store.state_dir),
        deployment,
    ]


class Supervisor:
    def __init__(self, store: RunStore, deployment: str) -> None:
        self.store = store
        self.deployment = deployment
        self.backend = LocalBackend(store.state_dir)
        self.services: dict[str, LocalHandle] = {}  # stage -> the serving version
        self.service_runs: dict[str, str] = {}  # stage -> run id it belongs to
        self.engine: Engine[LocalHandle] | None = None
        self.stopping = asyncio.Event()

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop)
        self.store.set_supervisor(self.deployment, os.getpid())
        beat = asyncio.ensure_future(self._heartbeat())
        try:
            while not self.stopping.is_set():
                if self._deleting():
                    break
                queued = self.store.queued_runs(self.deployment)
                if queued:
                    # only the newest queued run matters; older ones are superseded
                    for stale in queued[:-1]:
                        self.store.record(stale.id, "run.cancelled", message="superseded")
                    await self._execute(queued[-1].id)
                    continue
                await self._watch_services()
                if not self.services:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), POLL_SECONDS)
        finally:
            await self._shutdown()
            beat.cancel()
            self.store.set_supervisor(self.deployment, None)

    def _deleting(self) -> bool:
        record = self.store.get_deployment(self.deployment)
        return record is not None and record.status == states.DELETING

    def _on_stop(self) -> None:
        self.stopping.set()
        if self.engine is not None:
            self.engine.cancel()

    async def _heartbeat(self) -> None:
        while True:
            self.store.heartbeat(self.deployment)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _execute(self, run_id: str) -> None:
        run = self.store.get_run(run_id)
        assert run is not None
        self.store.set_supervisor(self.deployment, os.getpid(), run_id)
        plan = Plan.model_validate(run.plan)
        await self._displace_self_serving(plan)
        self.engine = Engine(
            self.backend,
            self.store,
            run_id,
            self.deployment,
            max_parallel=int(run.options.get("max_parallel", 4)),
            before_deployed=lambda services: self._swap_in(run_id, services),
        )
        watcher = asyncio.ensure_future(self._watch_cancel(run_id, self.engine))
        try:
            result = await self.engine.run(plan)
        finally:
            watcher.cancel()
            self.engine = None
        # a delete asked for meanwhile wins: the main loop sees it and stops
        self.store.set_deployment_status(
            self.deployment,
            "running" if self.services else result.status,
            unless=(states.DELETING, states.DELETED),
        )

    async def _watch_cancel(self, run_id: str, engine: Engine[LocalHandle]) -> None:
        while not self.store.cancel_requested(run_id) and not self._deleting():
            await asyncio.sleep(POLL_SECONDS)
        engine.cancel()

    async def _displace_self_serving(self, plan: Plan) -> None:
        """Stop the old version of a module that binds its own port, to free the port.

        It stays listed as serving: if the new run fails, ``_watch_services`` starts it
        again, so the old version comes back.
        """
        for name, stage in plan.stages.items():
            old = self.services.get(name)
            if old is not None and stage.serves_itself:
                await self.backend.stop(old, "replaced")

    async def _swap_in(self, run_id: str, new: Mapping[str, LocalHandle]) -> None:
        previous = {name: self.service_runs[name] for name in new if name in self.service_runs}
        for name, handle in new.items():
            old = self.services.get(name)
            self.services[name] = handle
            self.service_runs[name] = run_id
            if old is not None and old is not handle:
                await self.backend.stop(old, "replaced")
        for name in [n for n in self.services if n not in new]:
            # a service that the new version no longer has
            await self.backend.stop(self.services.pop(name), "replaced")
            self.service_runs.pop(name, None)
        for old_run in set(previous.values()) - {run_id}:
            if old_run not in self.service_runs.values():
                self.store.record(old_run, "run.stopped", message=f"replaced by run {run_id}")

    async def _watch_services(self) -> None:
        """Restart a replica that died (a service is meant to run until it is deleted)."""
        for name, handle in list(self.services.items()):
            for index, process in enumerate(handle.processes):
                if process.returncode is None:
                    continue
                run_id = self.service_runs[name]
                self.store.record(
                    run_id,
                    "service.restarting",
                    name,
                    handle.attempt,
                    message=f"replica {index + 1} exited with code {process.returncode}",
                )
                replacement = type(process)(
                    process.spec_path, process.log_path, process.env, process.cwd
                )
                await replacement.start()
                handle.processes[index] = replacement
                await asyncio.sleep(1.0)  # a crash loop must not spin

    async def _shutdown(self) -> None:
        for name, handle in list(self.services.items()):
            await self.backend.stop(handle, "deleted")
            self.store.record(self.service_runs[name], "stage.stopped", name, message="stopped")
        for run_id in set(self.service_runs.values()):
            self.store.record(run_id, "run.stopped", message="the deployment was stopped")
        self.services.clear()
        self.service_runs.clear()
        await self.backend.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bodywork-supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--detach", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("deployment")
    args = parser.parse_args(argv)
    store = RunStore(args.state_dir)
    if args.detach:
        # the launcher: start the real supervisor in a session of its own, then exit
        subprocess.Popen(
            _command(store, args.deployment),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        return
    lock: IO[str] = lock_path(store, args.deployment).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another supervisor serves this deployment; it picks up queued runs
    print(f"[{time.strftime('%H:%M:%S')}] supervisor {os.getpid()} for {args.deployment}")
    try:
        asyncio.run(Supervisor(store, args.deployment).main())
    finally:
        status = store.get_deployment(args.deployment)
        deleting = status is not None and status.status == states.DELETING
        if deleting:
            store.set_deployment_status(args.deployment, states.DELETED)
        print(f"[{time.strftime('%H:%M:%S')}] supervisor {os.getpid()} exits")
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        # a run queued after the last look at the queue would wait for nobody
        if not deleting and store.queued_runs(args.deployment):
            spawn(store, args.deployment)


if __name__ == "__main__":
    main()
