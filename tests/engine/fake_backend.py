"""An in-memory ``Backend`` for engine tests: scripted attempts, no processes.

Each stage gets a list of per-attempt behaviours; attempt ``n`` of a stage plays the
``n``-th behaviour (the last one repeats when the script runs out; a stage with no
script succeeds at once, or is ready at once if it is a service)::

    backend = FakeBackend({"train": [fail("boom"), ok()], "serve": [ready("http://x")]})

Behaviours: ``ok``, ``fail`` (a reason and a message), ``hang`` (until stopped),
``ready`` (a service serving at a URL), ``raises`` (``start`` raises) and
``watch_raises`` (``watch`` raises once started); ``ms=`` makes any of them take that
long first. The backend records what the engine asked of it: every start (stage,
attempt number, extra_env), every stop (with its reason), the order of events
(``timeline``) and the peak number of attempts running at once. An attempt runs from
its start until it ends (a batch attempt finished) or is stopped: a ready service keeps
running until it is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bodywork_jupyter.engine.backend import Attempt, EventSink, HandleRef, Outcome, StopReason

Kind = Literal["ok", "fail", "hang", "ready", "raises", "watch_raises"]


@dataclass(frozen=True)
class Behaviour:
    """What one attempt does."""

    kind: Kind
    ms: float = 0.0  # how long it takes before it does it
    reason: str = "error"
    message: str = ""
    url: str | None = None
    notebook: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: Exception | None = None
    #: runner events sent through the attempt's sink once it has started
    events: tuple[tuple[str, Mapping[str, Any]], ...] = ()


def ok(
    ms: float = 0.0,
    notebook: str | None = None,
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Behaviour:
    """A batch attempt that succeeds (after ``ms`` milliseconds)."""
    return Behaviour("ok", ms=ms, notebook=notebook, events=tuple(events))


def fail(
    message: str = "boom",
    reason: str = "error",
    ms: float = 0.0,
    details: Mapping[str, Any] | None = None,
) -> Behaviour:
    """An attempt that ends in failure (a service: one that never became ready)."""
    return Behaviour("fail", ms=ms, reason=reason, message=message, details=dict(details or {}))


def hang() -> Behaviour:
    """An attempt that runs until it is stopped."""
    return Behaviour("hang")


def ready(url: str | None = "http://fake", ms: float = 0.0) -> Behaviour:
    """A service that becomes ready, serving at ``url``."""
    return Behaviour("ready", ms=ms, url=url)


def raises(error: Exception, ms: float = 0.0) -> Behaviour:
    """``start`` raises ``error`` (after ``ms``): the attempt never starts."""
    return Behaviour("raises", ms=ms, error=error)


def watch_raises(error: Exception, ms: float = 0.0) -> Behaviour:
    """The attempt starts, then ``watch`` raises ``error``: the attempt itself goes on."""
    return Behaviour("watch_raises", ms=ms, error=error)


@dataclass(frozen=True)
class Start:
    stage: str
    attempt: int
    extra_env: dict[str, str]
    kind: str


@dataclass
class Stop:
    stage: str
    attempt: int
    reason: str
    completed: bool = False  # False: the stop was interrupted before it finished


@dataclass
class FakeHandle:
    id: int
    stage: str
    attempt: int
    kind: str
    behaviour: Behaviour
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False


class FakeBackend:
    """Implements ``Backend[FakeHandle]`` in memory (see the module docstring)."""

    def __init__(
        self, script: Mapping[str, Sequence[Behaviour]] | None = None, stop_ms: float = 0.0
    ) -> None:
        self.script = {name: list(behaviours) for name, behaviours in (script or {}).items()}
        self.stop_ms = stop_ms  # how long every stop takes
        self.starts: list[Start] = []
        self.stops: list[Stop] = []
        #: (what, stage, attempt) in the order it happened: start, succeeded, failed,
        #: ready, stopped, start_failed, watch_raised
        self.timeline: list[tuple[str, str, int]] = []
        self.running: dict[int, FakeHandle] = {}
        self.handles: list[FakeHandle] = []
        self.peak = 0
        self._ids = itertools.count(1)
        self._played: dict[str, int] = {}

    # -- what happened -------------------------------------------------------------------------

    @property
    def start_order(self) -> list[str]:
        return [s.stage for s in self.starts]

    def attempts(self, stage: str) -> list[int]:
        return [s.attempt for s in self.starts if s.stage == stage]

    def stop_reasons(self) -> dict[str, list[str]]:
        reasons: dict[str, list[str]] = {}
        for stop in self.stops:
            reasons.setdefault(stop.stage, []).append(stop.reason)
        return reasons

    def running_stages(self) -> list[str]:
        return sorted(h.stage for h in self.running.values())

    # -- the Backend protocol ------------------------------------------------------------------

    async def start(self, attempt: Attempt, sink: EventSink) -> FakeHandle:
        stage = attempt.stage
        behaviour = self._next(stage.name, stage.kind)
        self.starts.append(Start(stage.name, attempt.number, dict(attempt.extra_env), stage.kind))
        if behaviour.kind == "raises":
            if behaviour.ms:
                await asyncio.sleep(behaviour.ms / 1000)
            self.timeline.append(("start_failed", stage.name, attempt.number))
            assert behaviour.error is not None
            raise behaviour.error
        handle = FakeHandle(next(self._ids), stage.name, attempt.number, stage.kind, behaviour)
        self.handles.append(handle)
        self.running[handle.id] = handle
        self.peak = max(self.peak, len(self.running))
        self.timeline.append(("start", stage.name, attempt.number))
        for type_, data in behaviour.events:
            sink(type_, {"event": type_, "stage": stage.name, "attempt": attempt.number, **data})
        return handle

    async def watch(self, handle: FakeHandle) -> Outcome:
        behaviour = handle.behaviour
        if behaviour.kind == "hang":
            await handle.stopped.wait()
            return Outcome(False, "terminated", "stopped")
        if behaviour.ms:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(handle.stopped.wait(), behaviour.ms / 1000)
        else:
            await asyncio.sleep(0)  # let the others run, as a real attempt would
        if handle.stopped.is_set():
            return Outcome(False, "terminated", "stopped")
        if behaviour.kind == "ok":
            self._end(handle, "succeeded")
            return Outcome(True, exit_code=0, notebook=behaviour.notebook)
        if behaviour.kind == "ready":
            self.timeline.append(("ready", handle.stage, handle.attempt))
            return Outcome(True, url=behaviour.url)
        if behaviour.kind == "watch_raises":
            self.timeline.append(("watch_raised", handle.stage, handle.attempt))
            assert behaviour.error is not None
            raise behaviour.error
        self._end(handle, "failed")
        return Outcome(
            False,
            behaviour.reason,
            behaviour.message,
            exit_code=1,
            notebook=behaviour.notebook,
            details=dict(behaviour.details),
        )

    async def stop(
        self, handle: FakeHandle, reason: StopReason, grace_seconds: float = 10.0
    ) -> None:
        stop = Stop(handle.stage, handle.attempt, reason)
        self.stops.append(stop)
        if self.stop_ms:
            await asyncio.sleep(self.stop_ms / 1000)
        handle.stopped.set()
        if not handle.ended:
            self._end(handle, "stopped")
        stop.completed = True

    def ref(self, handle: FakeHandle) -> HandleRef:
        return {
            "backend": "fake",
            "id": handle.id,
            "stage": handle.stage,
            "attempt": handle.attempt,
        }

    async def attach(self, ref: HandleRef) -> FakeHandle | None:
        if ref.get("backend") != "fake":
            return None
        return self.running.get(int(ref.get("id", 0)))

    # -- helpers -------------------------------------------------------------------------------

    def _next(self, stage: str, kind: str) -> Behaviour:
        behaviours = self.script.get(stage) or [ready() if kind == "service" else ok()]
        played = self._played.get(stage, 0)
        self._played[stage] = played + 1
        return behaviours[min(played, len(behaviours) - 1)]

    def _end(self, handle: FakeHandle, what: str) -> None:
        handle.ended = True
        self.running.pop(handle.id, None)
        self.timeline.append((what, handle.stage, handle.attempt))
