"""The one small protocol every backend implements: start, watch, stop, refer, attach.

The engine drives a backend through it and knows nothing else about where stages
run: no paths, no processes, no cluster objects. What the engine keeps of an
attempt is a ``HandleRef``: plain data that can be stored in the run history, so an
engine restarted elsewhere can ``attach`` to work already started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from bodywork_jupyter.plan.model import Plan, PlannedStage

#: Called with (event type, fields) for every runner event of a stage attempt.
EventSink = Callable[[str, dict[str, Any]], None]

#: Why an attempt is stopped: on a cluster a failed new version means a rollback, not a
#: delete, so a backend may treat each differently.
StopReason = Literal["failed", "timeout", "cancelled", "replaced", "deleted"]

#: How an attempt ended: ``ok`` or one of these.
FailureReason = Literal[
    "error",
    "exit",
    "timeout",
    "kernel_died",
    "terminated",
    "bad_input",
    "unreachable",
    "cancelled",
    "lost",  # gone when an engine taking over the run tried to re-attach to it
]

#: A stored reference to a started attempt (JSON-ready: names, ids, numbers).
HandleRef = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended (a batch stage) or settled (a service: ready or failed)."""

    ok: bool
    reason: str = ""  # a FailureReason when not ok
    message: str = ""
    exit_code: int | None = None
    url: str | None = None  # a service that is ready: where it serves
    notebook: str | None = None  # the executed notebook, as the target can read it back
    details: dict[str, Any] = field(default_factory=dict)  # cell, ename, evalue


@dataclass(frozen=True)
class Attempt:
    """One attempt of one stage of one run: everything a backend needs to start it."""

    run_id: str
    deployment: str
    plan: Plan
    stage: PlannedStage
    number: int
    extra_env: Mapping[str, str] = field(default_factory=dict)


H = TypeVar("H")


class Backend(Protocol[H]):
    """Where stage attempts run. ``H`` is the backend's own handle type."""

    async def start(self, attempt: Attempt, sink: EventSink) -> H:
        """Start one attempt of a stage (a service: all its replicas)."""
        ...

    async def watch(self, handle: H) -> Outcome:
        """Wait until a batch attempt ends, or a service is ready (or failed to be)."""
        ...

    async def stop(self, handle: H, reason: StopReason, grace_seconds: float = 10.0) -> None:
        """Stop an attempt (a service: all its replicas), for ``reason``."""
        ...

    def ref(self, handle: H) -> HandleRef:
        """A reference to the attempt that can be stored and given to ``attach`` later."""
        ...

    async def attach(self, ref: HandleRef) -> H | None:
        """The attempt ``ref`` names, if it is still there (None: it is gone)."""
        ...
