"""The supervisor: one long-lived process per local deployment.

It outlives the CLI (and a Jupyter server): it runs the deployment's queued runs
with the engine, keeps its services running behind their proxies, restarts a
service replica that dies once ready (recorded, with backoff: ``engine.replicas``),
and stops everything when the deployment is being deleted (or on SIGTERM). Exactly
one runs per deployment: it holds an exclusive lock on the deployment's lock file.
Its heartbeat in the store is how the local target tells that it is alive.

A redeploy hands the supervisor a new run; the new services start beside the
old ones and traffic moves only once the whole run has settled (its services ready and
every batch stage done). If the new run fails or is cancelled, the old version keeps
serving; once it is replaced, its replicas drain (what they have in hand finishes,
kept-alive connections are told to close) before they stop.

A deployment with a schedule keeps its supervisor up between runs: when a fire time
comes it queues the schedule's run (``scheduling.Timer``), one run at a time.
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

from bodywork_jupyter.backends.local import forking, layout, recording, scheduling
from bodywork_jupyter.backends.local.backend import LocalBackend, LocalHandle
from bodywork_jupyter.backends.local.stage_env import stage_environment
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.engine import Engine
from bodywork_jupyter.engine.parallelism import DEFAULT_MAX_PARALLEL
from bodywork_jupyter.engine.replicas import ReplicaKeeper
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


def running(store: RunStore, deployment: str, pid: int) -> bool:
    """Whether ``pid`` is still this deployment's supervisor process (its command line
    names this module, the state folder and the deployment), whatever its heartbeat says:
    a full or read-only folder refuses the beats of a supervisor that goes on."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False  # gone (or no /proc: the heartbeat alone decides)
    wanted = [*_command(store, deployment)[2:]]
    words = [part.decode(errors="replace") for part in argv if part]
    return all(word in words for word in wanted)


def spawn(store: RunStore, deployment: str) -> None:
    """Start a detached supervisor for ``deployment``.

    Twice removed (a launcher starts it and exits at once), so it belongs to no
    terminal or Jupyter server, and nobody is left to reap it as a zombie. The launcher
    is a bare interpreter (``_LAUNCHER``): it imports nothing of ours, which would cost
    the supervisor's own start-up a second time (0.4 s) before the first stage.
    """
    log = layout.supervisor_log(store.state_dir, deployment)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, *_command(store, deployment)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        launcher.wait()


#: What ``--detach`` does, with nothing but the standard library: start the real supervisor
#: in a session of its own, then exit.
_LAUNCHER = (
    "import subprocess, sys; subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, "
    "start_new_session=True, close_fds=True)"
)


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
        self.backend = LocalBackend(store.state_dir, make_room=self._make_room)
        self.services: dict[str, LocalHandle] = {}  # stage -> the serving version
        self.service_runs: dict[str, str] = {}  # stage -> run id it belongs to
        #: stage -> its serving version, stopped to free its port for a new version
        self.displaced: dict[str, LocalHandle] = {}
        self.keeper = ReplicaKeeper(self.backend, store)
        self.engine: Engine[LocalHandle] | None = None
        self.stopping = asyncio.Event()
        self.timer = scheduling.Timer(store, deployment)
        self.idle = False  # it left because it had nothing left to do

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop)
        self.store.set_supervisor(self.deployment, os.getpid())
        beat = asyncio.ensure_future(self._heartbeat())
        keeping = asyncio.ensure_future(self._keep_replicas())
        # what a full or read-only state folder refused, written once it takes writes again
        writing = asyncio.ensure_future(recording.keep_writing(self.store))
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
                if self.timer.fire_if_due() is not None:
                    continue  # a schedule's run is queued: the next look runs it
                if not self.services and not self.timer.keeps_alive():
                    self.idle = True
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), POLL_SECONDS)
        finally:
            keeping.cancel()
            await self.keeper.close()
            await self._shutdown()
            await recording.settle(self.store)  # beating meanwhile: its runs are not lost
            writing.cancel()
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
        if any(s.kind == "batch" and s.is_notebook for s in plan.stages.values()):
            # its runners fork from a warm one: it imports while the run starts
            forking.prewarm(stage_environment(os.environ, {}))
        self.engine = Engine(
            self.backend,
            self.store,
            run_id,
            self.deployment,
            max_parallel=int(run.options.get("max_parallel", DEFAULT_MAX_PARALLEL)),
            before_deployed=lambda services: self._swap_in(run_id, services),
        )
        watcher = asyncio.ensure_future(self._watch_cancel(run_id, self.engine))
        try:
            result = await self.engine.run(plan)
        finally:
            watcher.cancel()
            self.engine = None
            await self._bring_back_displaced(run_id)
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

    async def _make_room(self, old: LocalHandle) -> None:
        """Stop the serving version of a module that binds its own port: its new version
        is built and waits for the port.

        It stays listed as serving (not kept meanwhile: its exit is on purpose); if the new
        run fails, ``_bring_back_displaced`` starts it again, so the old version comes back.
        """
        name = old.stage
        if self.services.get(name) is not old:
            await self.backend.stop(old, "replaced")
            return
        self.displaced[name] = old
        self.keeper.release(old)  # its processes end on purpose
        await self.backend.stop(old, "replaced")
        self.store.record(
            self.service_runs[name],
            "runner.note",
            name,
            old.attempt,
            message="stopped to free its port for the new version, which is built",
        )

    async def _bring_back_displaced(self, run_id: str) -> None:
        """The old version of a module the new run stopped serves again, unless the new
        run replaced it (deployed)."""
        for name, old in list(self.displaced.items()):
            if self.services.get(name) is not old or self.stopping.is_set() or self._deleting():
                self.displaced.pop(name)
                continue
            # displaced until it runs again: the keeper, meanwhile, must not take its
            # stopped processes for a crash and start them a second time
            await self.backend.start_again(old)
            self.displaced.pop(name)
            self.store.record(
                self.service_runs[name],
                "service.restarted",
                name,
                old.attempt,
                message=f"started again: run {run_id} did not replace it",
            )

    async def _swap_in(self, run_id: str, new: Mapping[str, LocalHandle]) -> None:
        """The run has settled: traffic moves to its services, then the old ones drain."""
        previous = {name: self.service_runs[name] for name in new if name in self.service_runs}
        old: dict[int, LocalHandle] = {}
        for name, handle in new.items():
            for before in (self.services.get(name), self.backend.switch(handle)):
                if before is not None and before is not handle:
                    old[id(before)] = before
            self.services[name] = handle
            self.service_runs[name] = run_id
        for name in [n for n in self.services if n not in new]:
            # a service that the new version no longer has
            gone = self.services.pop(name)
            old[id(gone)] = gone
            self.service_runs.pop(name, None)
        for handle in old.values():
            self.keeper.release(handle)  # its processes end on purpose
        await asyncio.gather(*(self.backend.stop(h, "replaced") for h in old.values()))
        for old_run in set(previous.values()) - {run_id}:
            if old_run not in self.service_runs.values():
                self.store.record(old_run, "run.stopped", message=f"replaced by run {run_id}")

    async def _keep_replicas(self) -> None:
        """Every ready service is kept running (it is meant to run until it is deleted):
        the serving versions, and the new run's services from the moment they are ready."""
        while True:
            try:
                self._keep_services()
            except Exception as exc:  # keeping must go on: say it in the supervisor's log
                print(f"[{time.strftime('%H:%M:%S')}] keeping services: {exc!r}", flush=True)
            await asyncio.sleep(POLL_SECONDS)

    def _keep_services(self) -> None:
        wanted: dict[int, tuple[str, str, LocalHandle]] = {}
        for name, handle in self.services.items():
            if self.displaced.get(name) is not handle:
                wanted[id(handle)] = (self.service_runs[name], name, handle)
        engine = self.engine
        if engine is not None:
            for name, handle in list(engine.services.items()):
                wanted.setdefault(id(handle), (engine.run_id, name, handle))
        for handle in self.keeper.handles():
            if id(handle) not in wanted:  # replaced, stopped or deleted meanwhile
                self.keeper.release(handle)
        for run_id, name, handle in wanted.values():
            self.keeper.keep(run_id, name, handle.attempt, handle)
        self.keeper.check()

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
    # a write the state folder refuses stops only the run it was for (recording.py)
    store = recording.RecordingStore(args.state_dir)
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
    recording.say(f"supervisor {os.getpid()} for {args.deployment}")
    supervisor = Supervisor(store, args.deployment)
    store.stop_run = recording.engine_stopper(lambda: supervisor.engine)
    try:
        asyncio.run(supervisor.main())
    finally:
        status = store.get_deployment(args.deployment)
        deleting = status is not None and status.status == states.DELETING
        if deleting:
            store.set_deployment_status(args.deployment, states.DELETED)
        recording.say(f"supervisor {os.getpid()} exits")
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        # a run queued (or a schedule set) after the last look would wait for nobody
        scheduled = supervisor.idle and supervisor.timer.keeps_alive()
        if not deleting and (store.queued_runs(args.deployment) or scheduled):
            spawn(store, args.deployment)


if __name__ == "__main__":
    main()
