"""Keeping a ready service's replicas running where nothing else restarts them.

On a cluster a service's Deployment restarts a pod that dies; on this machine nothing
does, so the local supervisor keeps the replicas of every service that became ready:

- a replica that exits is recorded at once (``service.exited``: which replica, its exit
  code, the last lines of its log); the stage is ``restarting``, its deployment
  ``failing``, and its traffic goes to the replicas still up;
- it starts again after a capped exponential backoff (``service.restarted``): 1 s,
  doubling to 60 s, and 1 s again for a replica that stayed up a minute;
- once every replica is ready again the stage is ``ready`` (``service.recovered``).

The keeper knows no processes: a ``ReplicaBackend`` (the local backend) says which
replicas ended and starts one again, so a test can give it a fake.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bodywork_jupyter.engine.engine import Recorder, Sleep

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
#: A replica up this long has recovered: its next exit waits FIRST_DELAY again.
STABLE_SECONDS = 60.0
#: How much of a replica's log an exit record keeps.
LOG_TAIL_LINES = 10

H = TypeVar("H")
H_contra = TypeVar("H_contra", contravariant=True)
Clock = Callable[[], float]


@dataclass(frozen=True)
class ReplicaExit:
    """How one replica of a ready service ended."""

    replica: int  # 0-based
    exit_code: int | None
    what: str  # "exited with code 3", "was killed by SIGKILL"
    log_tail: tuple[str, ...] = ()


class ReplicaBackend(Protocol[H_contra]):
    """What the keeper asks of a backend whose service replicas nobody restarts."""

    def exited_replicas(self, handle: H_contra) -> list[int]:
        """The replicas of ``handle`` whose process has ended, taken out of its traffic
        (none once the handle is being stopped: that is no exit to report)."""
        ...

    def replica_exit(self, handle: H_contra, replica: int) -> ReplicaExit:
        """How ``replica`` ended: its exit code and the last lines of its log."""
        ...

    def replica_note(self, handle: H_contra, replica: int, text: str) -> None:
        """Add a line of ours to the replica's log (where its next start logs on)."""
        ...

    async def restart_replica(self, handle: H_contra, replica: int) -> bool:
        """Start ``replica`` again; False: the handle is being stopped, nothing started."""
        ...

    async def replica_ready(self, handle: H_contra, replica: int) -> bool:
        """Wait until the restarted replica is ready and give it its traffic again;
        False: it ended first (or the handle is being stopped)."""
        ...


@dataclass
class Backoff:
    """Capped exponential backoff, reset by a replica that stayed up ``stable`` seconds."""

    first: float = FIRST_DELAY
    cap: float = MAX_DELAY
    stable: float = STABLE_SECONDS
    streak: int = 0  # exits in a row, each soon after the last start

    def next_delay(self, up_seconds: float) -> float:
        if up_seconds >= self.stable:
            self.streak = 0
        delay = min(self.cap, self.first * 2.0 ** min(self.streak, 64))
        self.streak += 1
        return delay


@dataclass
class _Kept(Generic[H]):
    run_id: str
    stage: str
    attempt: int
    handle: H
    since: float  # when keeping began (the service was ready)
    started: dict[int, float] = field(default_factory=dict)  # replica -> its last start
    backoff: dict[int, Backoff] = field(default_factory=dict)
    restarts: dict[int, int] = field(default_factory=dict)
    down: set[int] = field(default_factory=set)
    tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class ReplicaKeeper(Generic[H]):
    """Restarts the replicas of the services it keeps; ``check()`` looks for exits."""

    def __init__(
        self,
        backend: ReplicaBackend[H],
        recorder: Recorder,
        *,
        first: float = FIRST_DELAY,
        cap: float = MAX_DELAY,
        stable: float = STABLE_SECONDS,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.backend = backend
        self.recorder = recorder
        self._policy = (first, cap, stable)
        self._sleep = sleep
        self._clock = clock
        self._kept: dict[int, _Kept[H]] = {}  # id(handle) -> what is kept of it

    def keep(self, run_id: str, stage: str, attempt: int, handle: H) -> None:
        """Keep ``handle``'s replicas running from now on (again: nothing changes)."""
        if id(handle) not in self._kept:
            self._kept[id(handle)] = _Kept(run_id, stage, attempt, handle, self._clock())

    def handles(self) -> list[H]:
        return [kept.handle for kept in self._kept.values()]

    def release(self, handle: H) -> None:
        """Stop keeping ``handle`` (before it is stopped or replaced): restarts waiting for
        their backoff are dropped."""
        kept = self._kept.pop(id(handle), None)
        if kept is not None:
            for task in kept.tasks.values():
                task.cancel()

    def restarting(self, handle: H) -> bool:
        """Whether a replica of ``handle`` is down and being restarted."""
        kept = self._kept.get(id(handle))
        return kept is not None and bool(kept.down)

    def check(self) -> None:
        """Notice replicas that ended, and start restarting each one (once)."""
        for kept in list(self._kept.values()):
            for replica in self.backend.exited_replicas(kept.handle):
                if replica not in kept.tasks:
                    exit_ = self.backend.replica_exit(kept.handle, replica)
                    task = asyncio.ensure_future(self._restart(kept, exit_))
                    kept.tasks[replica] = task

    async def close(self) -> None:
        """Release everything; restarts in progress are cancelled and waited for."""
        tasks = [task for kept in self._kept.values() for task in kept.tasks.values()]
        for handle in self.handles():
            self.release(handle)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _record(self, kept: _Kept[H], type_: str, **data: object) -> None:
        if self._kept.get(id(kept.handle)) is kept:  # released meanwhile: nothing to say
            self.recorder.record(kept.run_id, type_, kept.stage, kept.attempt, **data)

    async def _restart(self, kept: _Kept[H], exit_: ReplicaExit) -> None:
        replica = exit_.replica
        try:
            up = self._clock() - kept.started.get(replica, kept.since)
            delay = kept.backoff.setdefault(replica, Backoff(*self._policy)).next_delay(up)
            count = kept.restarts[replica] = kept.restarts.get(replica, 0) + 1
            kept.down.add(replica)
            message = (
                f"replica {replica + 1} {exit_.what} after {up:.0f}s up - restarting in "
                f"{delay:g}s (restart {count})"
            )
            self.backend.replica_note(kept.handle, replica, message)
            self._record(
                kept,
                "service.exited",
                message=message,
                replica=replica + 1,
                exit_code=exit_.exit_code,
                log_tail=list(exit_.log_tail),
                restart_in=delay,
                restarts=count,
                up_seconds=round(up, 1),
            )
            await self._sleep(delay)
            if not await self.backend.restart_replica(kept.handle, replica):
                return
            kept.started[replica] = self._clock()
            self._record(
                kept,
                "service.restarted",
                message=f"replica {replica + 1} started again (restart {count})",
                replica=replica + 1,
                restarts=count,
            )
            if await self.backend.replica_ready(kept.handle, replica):
                kept.down.discard(replica)
                if not kept.down:
                    self._record(
                        kept,
                        "service.recovered",
                        message=f"serving again: replica {replica + 1} {exit_.what} and was "
                        f"restarted (restart {count})",
                        replica=replica + 1,
                    )
            # else: it ended before it was ready; the next check() sees it and waits longer
        finally:
            kept.tasks.pop(replica, None)
