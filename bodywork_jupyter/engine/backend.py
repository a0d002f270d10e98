"""The one small protocol every backend implements: start, watch, stop, logs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bodywork_jupyter.plan.model import PlannedStage

#: Called with (event type, fields) for every runner event of a stage attempt.
EventSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended (a batch stage) or settled (a service: ready or failed)."""

    ok: bool
    reason: str = ""  # error, exit, timeout, kernel_died, terminated, bad_input, unreachable
    message: str = ""
    exit_code: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """What a backend needs to know about the run an attempt belongs to."""

    run_id: str
    run_dir: str
    cache_dir: str
    data_dir: str


class Handle(Protocol):
    """A started attempt, as the backend tracks it."""

    stage: str
    attempt: int
    log_path: str


class Backend(Protocol):
    # handles are the backend's own type; the engine only passes them back
    async def start(
        self, stage: PlannedStage, attempt: int, ctx: RunContext, sink: EventSink
    ) -> Any:
        """Start one attempt of a stage (a service: all its replicas)."""
        ...

    async def watch(self, handle: Any) -> Outcome:
        """Wait until a batch attempt ends, or a service is ready (or failed to be)."""
        ...

    async def stop(self, handle: Any, grace_seconds: float = 10.0) -> None:
        """Stop an attempt: SIGTERM, then SIGKILL after the grace period."""
        ...

    def logs(self, handle: Any) -> str:
        """Where the attempt's log is (a path for the local backend)."""
        ...
