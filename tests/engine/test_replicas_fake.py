"""The replica keeper against a fake backend: exits recorded, backoff, recovery (milliseconds).

The history goes into a real RunStore and is read back through the read service, as the
CLI reads it: the stage's status, the deployment's, and why it is failing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.backends.local.target import LocalTarget
from bodywork_jupyter.engine.replicas import Backoff, ReplicaExit, ReplicaKeeper
from bodywork_jupyter.engine.store import RunStore
from bodywork_jupyter.reader import RunReader
from bodywork_jupyter.targets import TargetOptions


def in_loop(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (its fixtures stay pytest's)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return run


@dataclass
class Replica:
    alive: bool = True
    #: what each restart does: True becomes ready, False ends before it is ready
    restarts: list[bool] = field(default_factory=list)
    started: int = 0


@dataclass
class Service:
    replicas: list[Replica]
    stopping: bool = False


class FakeReplicas:
    """A ``ReplicaBackend`` over in-memory replicas; a test kills them with ``die``."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def die(self, service: Service, replica: int) -> None:
        service.replicas[replica].alive = False

    def exited_replicas(self, handle: Service) -> list[int]:
        if handle.stopping:
            return []
        return [i for i, r in enumerate(handle.replicas) if not r.alive]

    def replica_exit(self, handle: Service, replica: int) -> ReplicaExit:
        return ReplicaExit(replica, 3, "exited with code 3", ("loading", "boom"))

    def replica_note(self, handle: Service, replica: int, text: str) -> None:
        self.notes.append(text)

    async def restart_replica(self, handle: Service, replica: int) -> bool:
        if handle.stopping:
            return False
        handle.replicas[replica].started += 1
        return True

    async def replica_ready(self, handle: Service, replica: int) -> bool:
        this = handle.replicas[replica]
        ready = this.restarts.pop(0) if this.restarts else True
        this.alive = ready
        return ready


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """Records the backoff delays and moves the clock on by each instead of waiting."""

    clock: Clock
    delays: list[float] = field(default_factory=list)
    block: bool = False

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.block:
            await asyncio.Event().wait()
        self.clock.now += delay
        await asyncio.sleep(0)


@dataclass
class Kept:
    store: RunStore
    reader: RunReader
    run_id: str
    backend: FakeReplicas
    keeper: ReplicaKeeper[Service]
    clock: Clock
    sleeps: Sleeps

    def types(self) -> list[str]:
        return [e.type for e in self.store.events(self.run_id) if e.type.startswith("service.")]

    def exits(self) -> list[dict[str, object]]:
        return [e.data for e in self.store.events(self.run_id) if e.type == "service.exited"]

    def status(self) -> str:
        return next(s.status for s in self.store.stages(self.run_id) if s.stage == "serve")

    async def settle(self) -> None:
        """Let every restart in progress run as far as it can."""
        for _ in range(20):
            await asyncio.sleep(0)


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[Kept]:
    store = RunStore(tmp_path)
    plan = {"order": ["serve"], "stages": {"serve": {"kind": "service"}}}
    run = store.create_run("demo", "demo", "local", {}, plan)
    store.record(run.id, "run.started")
    store.record(run.id, "stage.starting", "serve", 1)
    store.record(run.id, "stage.ready", "serve", 1, url="http://127.0.0.1:9")
    store.record(run.id, "run.deployed", message="services ready")
    clock = Clock()
    sleeps = Sleeps(clock)
    backend = FakeReplicas()
    keeper = ReplicaKeeper(backend, store, sleep=sleeps, clock=clock)
    reader = RunReader(LocalTarget(TargetOptions(name="local", state_dir=tmp_path)))
    yield Kept(store, reader, run.id, backend, keeper, clock, sleeps)
    store.close()


@in_loop
async def test_an_exit_is_recorded_restarted_and_recovered(kept: Kept) -> None:
    service = Service([Replica()])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    kept.clock.now += 30
    kept.backend.die(service, 0)
    kept.sleeps.block = True  # hold it in its backoff: what the reader shows meanwhile
    kept.keeper.check()
    await kept.settle()
    assert kept.status() == "restarting"
    view = kept.reader.deployment("demo")
    assert view.status == "failing"
    assert view.urls == {"serve": "http://127.0.0.1:9"}  # still its address
    why = view.exits["serve"]
    assert why.exit_code == 3 and why.log_tail == ("loading", "boom")
    assert why.message == "replica 1 exited with code 3 after 30s up - restarting in 1s (restart 1)"
    assert kept.backend.notes == [why.message]  # the same words in the replica's log

    kept.sleeps.block = False
    kept.keeper.release(service)  # the blocked restart is dropped ...
    await kept.settle()
    kept.keeper.keep(kept.run_id, "serve", 1, service)  # ... and kept anew: restarted now
    kept.keeper.check()
    await kept.settle()
    assert service.replicas[0].started == 1
    assert kept.types() == ["service.exited", "service.exited", "service.restarted",
                            "service.recovered"]  # fmt: skip
    assert kept.status() == "ready"
    view = kept.reader.deployment("demo")
    assert view.status == "serving" and not view.exits


def test_the_backoff_doubles_to_its_cap_and_resets_after_a_stable_while() -> None:
    backoff = Backoff(first=1.0, cap=60.0, stable=60.0)
    assert [backoff.next_delay(up_seconds=2) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.next_delay(up_seconds=61) == 1
    assert backoff.next_delay(up_seconds=0) == 2
    assert Backoff(streak=10_000).next_delay(0) == 60  # no overflow in a long crash loop


@in_loop
async def test_repeated_exits_wait_longer_each_time(kept: Kept) -> None:
    service = Service([Replica()])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    for _ in range(4):
        kept.backend.die(service, 0)
        kept.keeper.check()
        await kept.settle()
        kept.clock.now += 5  # up for 5 s each time
    assert kept.sleeps.delays == [1, 2, 4, 8]
    assert [e["restarts"] for e in kept.exits()] == [1, 2, 3, 4]
    # a minute up: the next exit waits 1 s again
    kept.clock.now += 60
    kept.backend.die(service, 0)
    kept.keeper.check()
    await kept.settle()
    assert kept.sleeps.delays[-1] == 1


@in_loop
async def test_a_replica_that_ends_before_it_is_ready_again_is_an_exit_too(kept: Kept) -> None:
    service = Service([Replica(restarts=[False, False, True])])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    kept.backend.die(service, 0)
    for _ in range(4):
        kept.keeper.check()
        await kept.settle()
    assert kept.sleeps.delays == [1, 2, 4]
    assert kept.types().count("service.exited") == 3
    assert kept.types()[-1] == "service.recovered" and kept.status() == "ready"


@in_loop
async def test_with_two_replicas_it_recovers_once_both_are_back(kept: Kept) -> None:
    service = Service([Replica(), Replica(restarts=[False, True])])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    kept.backend.die(service, 0)
    kept.backend.die(service, 1)
    kept.keeper.check()
    await kept.settle()
    # replica 1 is back, replica 2 ended again before it was ready: still restarting
    assert kept.status() == "restarting"
    assert "service.recovered" not in kept.types()
    assert kept.keeper.restarting(service)
    kept.keeper.check()
    await kept.settle()
    assert kept.status() == "ready" and not kept.keeper.restarting(service)
    assert [e["replica"] for e in kept.exits()] == [1, 2, 2]


@in_loop
async def test_a_service_stopped_on_purpose_is_not_an_exit(kept: Kept) -> None:
    service = Service([Replica()])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    service.stopping = True
    kept.backend.die(service, 0)
    kept.keeper.check()
    await kept.settle()
    assert kept.types() == [] and kept.status() == "ready"


@in_loop
async def test_close_cancels_restarts_waiting_for_their_backoff(kept: Kept) -> None:
    service = Service([Replica()])
    kept.keeper.keep(kept.run_id, "serve", 1, service)
    kept.sleeps.block = True
    kept.backend.die(service, 0)
    kept.keeper.check()
    await kept.settle()
    await kept.keeper.close()
    assert service.replicas[0].started == 0 and kept.keeper.handles() == []
    assert kept.types() == ["service.exited"]
