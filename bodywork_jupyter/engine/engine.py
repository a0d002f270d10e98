"""The workflow engine: runs a Plan's DAG on any Backend.

A stage starts as soon as its own dependencies have succeeded (a service counts
once it is ready), at most ``max_parallel`` at a time. A failed batch attempt is
retried with backoff; an attempt that outlives its timeout is stopped. When a
stage fails for good, everything still running is stopped, the stages not yet
started are skipped and the ``run_on_failure`` stage runs. Every change is a run
event recorded through the ``Recorder``.

An engine can take over a run another engine started (a controller pod restarted on a
cluster): given the run's ``Progress`` (read back from its record), it does not run
again what succeeded, and re-attaches to attempts still going through their stored
handle references.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.backend import Attempt, Backend, HandleRef, Outcome, StopReason
from bodywork_jupyter.engine.parallelism import DEFAULT_MAX_PARALLEL
from bodywork_jupyter.errors import BadInputError, TargetUnreachableError
from bodywork_jupyter.plan.model import Plan, PlannedStage

#: The runner enforces a stage's timeout itself; the engine stops it this much later.
TIMEOUT_GRACE_SECONDS = 30.0
#: Runner events kept in the history (others are log noise for the store).
RECORDED_RUNNER_EVENTS = frozenset(
    {"code.ready", "requirements.ready", "stage.running", "cell.finished", "service.ready", "note"}
)

Sleep = Callable[[float], Awaitable[None]]
#: Fields of a runner event that the store keeps in columns of its own.
_ENVELOPE = frozenset({"event", "stage", "attempt", "run_id", "pipeline"})

H = TypeVar("H")


@dataclass(frozen=True)
class Progress:
    """What a run's record says was done already, for an engine that takes it over."""

    succeeded: frozenset[str] = frozenset()
    #: stage -> (its latest attempt, that attempt's stored handle reference)
    in_flight: Mapping[str, tuple[int, HandleRef]] = field(default_factory=dict)
    #: stage -> attempts already used up (a stage that was waiting to retry)
    attempts_used: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[StageRow]) -> Progress:
        """From a run's stage rows (``RunStore.stages``)."""
        succeeded, in_flight, used = set(), {}, {}
        for row in rows:
            if row.status == states.SUCCEEDED:
                succeeded.add(row.stage)
            elif (
                row.status in (states.RUNNING, states.READY, states.RESTARTING)
                and row.ref is not None
            ):
                in_flight[row.stage] = (row.attempt, row.ref)
            elif row.status == states.RETRYING:
                used[row.stage] = row.attempt
        return cls(frozenset(succeeded), in_flight, used)


class StageRow(Protocol):
    """The fields of a stage's record that ``Progress`` reads."""

    @property
    def stage(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def ref(self) -> HandleRef | None: ...


class Recorder(Protocol):
    """Where run events go (the run store)."""

    def record(
        self,
        run_id: str,
        type_: str,
        stage: str | None = None,
        attempt: int | None = None,
        **data: Any,
    ) -> None: ...


@dataclass
class EngineResult(Generic[H]):
    status: str  # succeeded, deployed, failed, cancelled
    failed_stage: str | None = None
    message: str = ""
    services: dict[str, H] = field(default_factory=dict)


class Engine(Generic[H]):
    def __init__(
        self,
        backend: Backend[H],
        recorder: Recorder,
        run_id: str,
        deployment: str,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        sleep: Sleep = asyncio.sleep,
        timeout_grace: float = TIMEOUT_GRACE_SECONDS,
        before_deployed: Callable[[dict[str, H]], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        self.recorder = recorder
        self.run_id = run_id
        self.deployment = deployment
        self.max_parallel = max(1, max_parallel)
        self.timeout_grace = timeout_grace
        self._sleep = sleep
        self._cancel = asyncio.Event()
        self._before_deployed = before_deployed
        self.services: dict[str, H] = {}
        self.urls: dict[str, str] = {}
        #: why a stage still running is stopped when its task is cancelled
        self._stop_reason: StopReason = "cancelled"
        self._progress = Progress()

    def cancel(self) -> None:
        self._cancel.set()

    def _record(
        self, type_: str, stage: str | None = None, attempt: int | None = None, **data: Any
    ) -> None:
        self.recorder.record(self.run_id, type_, stage, attempt, **data)

    async def run(self, plan: Plan, progress: Progress | None = None) -> EngineResult[H]:
        """Run ``plan``'s DAG; with ``progress``, take over a run another engine started."""
        self._progress = progress or Progress()
        if progress is None:
            self._record("run.started", pipeline=plan.pipeline)
        else:
            self._record(
                "run.resumed",
                succeeded=sorted(progress.succeeded),
                attaching=sorted(progress.in_flight),
            )
        deps = {name: set(stage.depends_on) for name, stage in plan.stages.items()}
        done: set[str] = set(self._progress.succeeded) & set(plan.stages)
        waiting = [name for name in plan.order if name not in done]
        tasks: dict[asyncio.Task[Outcome], str] = {}
        failure: tuple[str, Outcome] | None = None
        cancel_wait = asyncio.ensure_future(self._cancel.wait())
        cancelling = False
        try:
            while True:
                if failure is None and not self._cancel.is_set():
                    for name in list(waiting):
                        if len(tasks) >= self.max_parallel:
                            break
                        if deps[name] <= done:
                            waiting.remove(name)
                            task = asyncio.ensure_future(self._run_stage(plan, plan.stages[name]))
                            tasks[task] = name
                if not tasks:
                    break
                # once cancelling, wait for the stages to stop: cancel_wait is done for good
                watched = [*tasks] if cancelling else [*tasks, cancel_wait]
                finished, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if cancel_wait in finished and not cancelling:
                    cancelling = True
                    for task in tasks:
                        task.cancel()
                for done_task in [t for t in finished if t in tasks]:
                    task = cast("asyncio.Task[Outcome]", done_task)
                    name = tasks.pop(task)
                    outcome = _outcome(task)
                    if outcome.ok:
                        done.add(name)
                    elif failure is None and outcome.reason != "cancelled":
                        failure = (name, outcome)
                        # the others stop because this one failed (a rollback on a cluster)
                        self._stop_reason = "failed"
                        for other in tasks:
                            other.cancel()
        finally:
            cancel_wait.cancel()
        for name in waiting:
            self._record("stage.skipped", name, message="not started")
        if self._cancel.is_set() and failure is None:
            await self._stop_services("cancelled")
            self._record("run.cancelled", message="cancelled")
            return EngineResult("cancelled", message="cancelled")
        if failure is not None:
            name, outcome = failure
            message = f"stage '{name}' failed: {outcome.message}"
            await self._stop_services("failed")
            if plan.run_on_failure is not None:
                extra = {"BODYWORK_FAILED_STAGE": name, "BODYWORK_FAILURE": message}
                await self._run_stage(plan, plan.run_on_failure, extra)
            self._record("run.failed", message=message, stage_failed=name)
            return EngineResult("failed", failed_stage=name, message=message)
        if self.services:
            if self._before_deployed is not None:
                # e.g. move traffic to the new services: "deployed" means they serve
                await self._before_deployed(dict(self.services))
            self._record("run.deployed", message="services ready", urls=dict(self.urls))
            return EngineResult("deployed", services=dict(self.services))
        self._record("run.succeeded", message="all stages succeeded")
        return EngineResult("succeeded")

    async def _run_stage(
        self, plan: Plan, stage: PlannedStage, extra_env: Mapping[str, str] | None = None
    ) -> Outcome:
        try:
            return await self._attempts(plan, stage, extra_env or {})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a backend that could not start the stage at all
            reason = (
                "unreachable"
                if isinstance(exc, TargetUnreachableError)
                else "bad_input"
                if isinstance(exc, BadInputError)
                else "error"
            )
            message = f"could not start: {exc}"
            self._record("stage.failed", stage.name, message=message, reason=reason)
            return Outcome(False, reason, message)

    async def _attempts(
        self, plan: Plan, stage: PlannedStage, extra_env: Mapping[str, str]
    ) -> Outcome:
        attempts = stage.retries.count + 1 if stage.kind == "batch" else 1
        first = self._progress.attempts_used.get(stage.name, 0) + 1
        running = self._progress.in_flight.get(stage.name)
        if running is not None:
            first = running[0]
        for number in range(first, max(attempts, first) + 1):
            ref = running[1] if running is not None and number == running[0] else None
            outcome = await self._attempt(plan, stage, number, extra_env, ref)
            if outcome.ok:
                return outcome
            if number < max(attempts, first) and outcome.reason != "bad_input":
                delay = stage.retries.delay_before(number)
                self._record(
                    "stage.retrying",
                    stage.name,
                    number,
                    message=f"{outcome.message} - retry {number} of {attempts - 1} in {delay:g}s",
                    reason=outcome.reason,
                )
                try:
                    await self._sleep(delay)
                except asyncio.CancelledError:
                    self._record("stage.cancelled", stage.name, number, message="stopped")
                    raise
                continue
            self._record(
                "stage.failed",
                stage.name,
                number,
                message=outcome.message,
                reason=outcome.reason,
                notebook_path=outcome.notebook,
                **outcome.details,
            )
            return outcome
        raise AssertionError("unreachable: every stage has at least one attempt")

    async def _attempt(
        self,
        plan: Plan,
        stage: PlannedStage,
        number: int,
        extra_env: Mapping[str, str],
        ref: HandleRef | None = None,
    ) -> Outcome:
        """One attempt: started (or re-attached), watched, and stopped unless it succeeded
        (or is serving)."""
        if ref is not None:
            attached = await self.backend.attach(ref)
            if attached is None:
                return Outcome(False, "lost", "the attempt was gone when the engine took over")
            return await self._follow(stage, number, attached)

        def sink(type_: str, data: dict[str, Any]) -> None:
            if type_ in RECORDED_RUNNER_EVENTS:
                fields = {k: v for k, v in data.items() if k not in _ENVELOPE}
                self._record(f"runner.{type_}", stage.name, number, **fields)

        attempt = Attempt(self.run_id, self.deployment, plan, stage, number, extra_env)
        starting = asyncio.ensure_future(self.backend.start(attempt, sink))
        try:
            # shielded: an attempt cancelled while starting is still stopped once it exists
            handle = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.backend.stop(await starting, self._stop_reason)
            self._record("stage.cancelled", stage.name, number, message="stopped while starting")
            raise
        self._record("stage.starting", stage.name, number, ref=self.backend.ref(handle))
        return await self._follow(stage, number, handle)

    async def _follow(self, stage: PlannedStage, number: int, handle: H) -> Outcome:
        try:
            outcome = await self._watch(stage, handle)
        except asyncio.CancelledError:
            await self.backend.stop(handle, self._stop_reason)
            self._record("stage.cancelled", stage.name, number, message="stopped")
            raise
        except Exception as exc:  # the backend lost track of it: make sure it is gone
            await self.backend.stop(handle, "failed")
            outcome = Outcome(False, "error", f"lost track of the attempt: {exc}")
        if outcome.ok:
            if stage.kind == "service":
                self.services[stage.name] = handle
                if outcome.url:
                    self.urls[stage.name] = outcome.url
                self._record("stage.ready", stage.name, number, url=outcome.url)
            else:
                self._record("stage.succeeded", stage.name, number, notebook_path=outcome.notebook)
        elif stage.kind == "service" and outcome.reason != "timeout":
            await self.backend.stop(handle, "failed")  # (a timeout has stopped it already)
        return outcome

    async def _watch(self, stage: PlannedStage, handle: H) -> Outcome:
        if stage.timeout_seconds is None:
            return await self.backend.watch(handle)
        try:
            return await asyncio.wait_for(
                self.backend.watch(handle), stage.timeout_seconds + self.timeout_grace
            )
        except TimeoutError:
            await self.backend.stop(handle, "timeout")
            limit = f"{stage.timeout_seconds:g}s"
            return Outcome(False, "timeout", f"did not finish within its timeout ({limit})")

    async def _stop_services(self, reason: StopReason) -> None:
        for name, handle in list(self.services.items()):
            await self.backend.stop(handle, reason)
            self._record("stage.stopped", name, message="stopped")
        self.services.clear()
        self.urls.clear()


def _outcome(task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        return Outcome(False, "cancelled", "cancelled")
    error = task.exception()
    if error is not None:
        return Outcome(False, "error", f"{type(error).__name__}: {error}")
    return task.result()
