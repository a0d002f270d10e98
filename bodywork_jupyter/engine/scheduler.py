"""The workflow engine: runs a Plan's DAG on any Backend.

A stage starts as soon as its own dependencies have succeeded (a service counts
once it is ready), at most ``max_parallel`` at a time. A failed batch attempt is
retried with backoff; an attempt that outlives its timeout is stopped. When a
stage fails for good, everything still running is stopped, the stages not yet
started are skipped and the ``run_on_failure`` stage runs. Every change is a run
event in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from bodywork_jupyter.engine.backend import Backend, Handle, Outcome, RunContext
from bodywork_jupyter.engine.store import RunStore
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


@dataclass
class EngineResult:
    status: str  # succeeded, deployed, failed, cancelled
    failed_stage: str | None = None
    message: str = ""
    services: dict[str, Handle] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        backend: Backend,
        store: RunStore,
        ctx: RunContext,
        max_parallel: int = 4,
        sleep: Sleep = asyncio.sleep,
        before_deployed: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.ctx = ctx
        self.max_parallel = max(1, max_parallel)
        self._sleep = sleep
        self._cancel = asyncio.Event()
        self._before_deployed = before_deployed
        self.services: dict[str, Handle] = {}

    def cancel(self) -> None:
        self._cancel.set()

    async def run(self, plan: Plan) -> EngineResult:
        run_id = self.ctx.run_id
        self.store.record(run_id, "run.started", pipeline=plan.pipeline)
        deps = {name: set(stage.depends_on) for name, stage in plan.stages.items()}
        waiting = list(plan.order)
        done: set[str] = set()
        tasks: dict[asyncio.Task[Outcome], str] = {}
        failure: tuple[str, Outcome] | None = None
        cancel_wait = asyncio.ensure_future(self._cancel.wait())
        try:
            while True:
                if failure is None and not self._cancel.is_set():
                    for name in list(waiting):
                        if len(tasks) >= self.max_parallel:
                            break
                        if deps[name] <= done:
                            waiting.remove(name)
                            task = asyncio.ensure_future(self._run_stage(plan.stages[name]))
                            tasks[task] = name
                if not tasks:
                    break
                finished, _ = await asyncio.wait(
                    [*tasks, cancel_wait], return_when=asyncio.FIRST_COMPLETED
                )
                if cancel_wait in finished and any(not t.done() for t in tasks):
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
                        for other in tasks:
                            other.cancel()
        finally:
            cancel_wait.cancel()
        for name in waiting:
            self.store.record(run_id, "stage.skipped", name, message="not started")
        if self._cancel.is_set() and failure is None:
            await self._stop_services()
            self.store.record(run_id, "run.cancelled", message="cancelled")
            return EngineResult("cancelled", message="cancelled")
        if failure is not None:
            name, outcome = failure
            message = f"stage '{name}' failed: {outcome.message}"
            await self._stop_services()
            if plan.run_on_failure is not None:
                await self._run_stage(plan.run_on_failure, failed_stage=name, failure=message)
            self.store.record(run_id, "run.failed", message=message, stage_failed=name)
            return EngineResult("failed", failed_stage=name, message=message)
        if self.services:
            if self._before_deployed is not None:
                # e.g. move traffic to the new services: "deployed" means they serve
                await self._before_deployed(dict(self.services))
            urls = {name: h.url for name, h in self.services.items() if hasattr(h, "url")}
            self.store.record(run_id, "run.deployed", message="services ready", urls=urls)
            return EngineResult("deployed", services=dict(self.services))
        self.store.record(run_id, "run.succeeded", message="all stages succeeded")
        return EngineResult("succeeded")

    async def _run_stage(
        self, stage: PlannedStage, failed_stage: str | None = None, failure: str = ""
    ) -> Outcome:
        try:
            return await self._attempts(stage, failed_stage, failure)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a backend that could not start the stage at all
            message = f"could not start: {exc}"
            self.store.record(self.ctx.run_id, "stage.failed", stage.name, message=message)
            return Outcome(False, "error", message)

    async def _attempts(
        self, stage: PlannedStage, failed_stage: str | None, failure: str
    ) -> Outcome:
        run_id = self.ctx.run_id
        extra_env = {"BODYWORK_FAILED_STAGE": failed_stage, "BODYWORK_FAILURE": failure}
        attempts = stage.retries.count + 1 if stage.kind == "batch" else 1
        outcome = Outcome(False, "error", "not started")
        for attempt in range(1, attempts + 1):

            def sink(type_: str, data: dict[str, Any], attempt: int = attempt) -> None:
                if type_ in RECORDED_RUNNER_EVENTS:
                    fields = {k: v for k, v in data.items() if k not in _ENVELOPE}
                    self.store.record(run_id, f"runner.{type_}", stage.name, attempt, **fields)

            handle = await self.backend.start(
                stage.model_copy(update={"spec": _with_env(stage.spec, extra_env)})
                if failed_stage
                else stage,
                attempt,
                self.ctx,
                sink,
            )
            self.store.record(
                run_id, "stage.starting", stage.name, attempt, log_path=handle.log_path
            )
            try:
                outcome = await self._watch(stage, handle)
            except asyncio.CancelledError:
                await self.backend.stop(handle)
                self.store.record(run_id, "stage.cancelled", stage.name, attempt, message="stopped")
                raise
            if outcome.ok:
                if stage.kind == "service":
                    self.services[stage.name] = handle
                    url = getattr(handle, "url", None)
                    self.store.record(run_id, "stage.ready", stage.name, attempt, url=url)
                else:
                    self.store.record(
                        run_id,
                        "stage.succeeded",
                        stage.name,
                        attempt,
                        notebook_path=outcome.details.get("notebook_path"),
                    )
                return outcome
            if stage.kind == "service":
                await self.backend.stop(handle)
            if attempt < attempts and outcome.reason != "bad_input":
                delay = stage.retries.delay_before(attempt)
                self.store.record(
                    run_id,
                    "stage.retrying",
                    stage.name,
                    attempt,
                    message=f"{outcome.message} - retry {attempt} of {attempts - 1} in {delay:g}s",
                    reason=outcome.reason,
                )
                await self._sleep(delay)
                continue
            self.store.record(
                run_id,
                "stage.failed",
                stage.name,
                attempt,
                message=outcome.message,
                reason=outcome.reason,
                notebook_path=outcome.details.get("notebook_path"),
                **{k: v for k, v in outcome.details.items() if k != "notebook_path"},
            )
        return outcome

    async def _watch(self, stage: PlannedStage, handle: Handle) -> Outcome:
        if stage.timeout_seconds is None:
            return await self.backend.watch(handle)
        try:
            return await asyncio.wait_for(
                self.backend.watch(handle), stage.timeout_seconds + TIMEOUT_GRACE_SECONDS
            )
        except TimeoutError:
            await self.backend.stop(handle)
            limit = f"{stage.timeout_seconds:g}s"
            return Outcome(False, "timeout", f"did not finish within its timeout ({limit})")

    async def _stop_services(self) -> None:
        for name, handle in list(self.services.items()):
            await self.backend.stop(handle)
            self.store.record(self.ctx.run_id, "stage.stopped", name, message="stopped")
        self.services.clear()


def _outcome(task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        return Outcome(False, "cancelled", "cancelled")
    error = task.exception()
    if error is not None:
        return Outcome(False, "error", f"{type(error).__name__}: {error}")
    return task.result()


def _with_env(spec: dict[str, Any], extra: dict[str, str | None]) -> dict[str, Any]:
    env = dict(spec.get("env", {}))
    env.update({k: v for k, v in extra.items() if v})
    return {**spec, "env": env}
