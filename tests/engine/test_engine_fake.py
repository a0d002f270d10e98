"""The workflow engine against the in-memory FakeBackend: milliseconds per test.

Every run records into a real RunStore, so the assertions read the same history
(events and stage rows) that the users see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.engine.backend import Attempt
from bodywork_jupyter.engine.engine import Engine, EngineResult, Progress
from bodywork_jupyter.engine.store import Event, RunStore, StageState
from bodywork_jupyter.errors import BadInputError, TargetUnreachableError
from bodywork_jupyter.pipeline.model import Pipeline, RetryPolicy, ServiceSpec, Stage
from bodywork_jupyter.plan.model import Plan
from bodywork_jupyter.plan.planner import plan_pipeline
from bodywork_runner.spec import Source
from tests.engine.fake_backend import (
    FakeBackend,
    FakeHandle,
    fail,
    hang,
    ok,
    raises,
    ready,
    watch_raises,
)

# -- building plans ------------------------------------------------------------------------------


def batch(
    name: str,
    *depends_on: str,
    retries: int = 0,
    backoff: float = 10.0,
    factor: float = 2.0,
    max_backoff: float = 300.0,
    timeout: float | None = None,
) -> Stage:
    return Stage(
        name=name,
        kind="batch",
        path=f"{name}.ipynb",
        depends_on=depends_on,
        retries=RetryPolicy(
            count=retries,
            backoff_seconds=backoff,
            backoff_factor=factor,
            max_backoff_seconds=max_backoff,
        ),
        timeout_seconds=timeout,
    )


def service(
    name: str, *depends_on: str, port: int = 8000, retries: int = 0, timeout: float | None = None
) -> Stage:
    return Stage(
        name=name,
        kind="service",
        path=f"{name}.ipynb",
        depends_on=depends_on,
        service=ServiceSpec(port=port),
        retries=RetryPolicy(count=retries),
        timeout_seconds=timeout,
    )


def make_plan(*stages: Stage, run_on_failure: Stage | None = None) -> Plan:
    every = {s.name: s for s in stages}
    if run_on_failure is not None:
        every[run_on_failure.name] = run_on_failure
    pipeline = Pipeline(
        name="demo",
        source_version="2.0",
        config_file="/nowhere/bodywork.yaml",
        root="/nowhere",
        run_on_failure=run_on_failure.name if run_on_failure else None,
        stages=every,
    )
    return plan_pipeline(pipeline, Source(local_path="/nowhere"))


# -- running the engine --------------------------------------------------------------------------


@dataclass
class Sleeps:
    """An injected ``sleep``: records the backoff delays instead of waiting them."""

    delays: list[float] = field(default_factory=list)
    block: bool = False  # True: never return (until cancelled)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.block:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


@dataclass
class Run:
    """One engine run and its recorded history."""

    store: RunStore
    run_id: str
    plan: Plan
    backend: FakeBackend
    engine: Engine[FakeHandle]
    sleeps: Sleeps

    def events(self, type_: str | None = None, stage: str | None = None) -> list[Event]:
        return [
            e
            for e in self.store.events(self.run_id)
            if (type_ is None or e.type == type_) and (stage is None or e.stage == stage)
        ]

    def types(self, stage: str | None = None) -> list[str]:
        return [e.type for e in self.events(stage=stage)]

    def stage(self, name: str) -> StageState:
        return next(s for s in self.store.stages(self.run_id) if s.stage == name)

    def statuses(self) -> dict[str, str]:
        return {s.stage: s.status for s in self.store.stages(self.run_id)}

    @property
    def status(self) -> str:
        run = self.store.get_run(self.run_id)
        assert run is not None
        return run.status

    async def until(self, condition: Callable[[], bool], seconds: float = 1.0) -> None:
        """Wait (in the engine's loop) until ``condition()`` holds."""
        for _ in range(int(seconds * 1000)):
            if condition():
                return
            await asyncio.sleep(0.001)
        raise AssertionError("the condition never held")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "state")
    yield runs
    runs.close()


Prepare = Callable[..., Run]


@pytest.fixture
def prepare(store: RunStore) -> Prepare:
    """``prepare(plan, backend, **engine_options)`` -> a Run whose engine has not started."""

    def _prepare(plan: Plan, backend: FakeBackend, **options: Any) -> Run:
        created = store.create_run(
            plan.pipeline,
            plan.pipeline,
            "local",
            plan.source.model_dump(mode="json"),
            plan.model_dump(mode="json"),
            {},
        )
        sleeps = options.pop("sleep", None) or Sleeps()
        engine: Engine[FakeHandle] = Engine(
            backend, store, created.id, plan.pipeline, sleep=sleeps, **options
        )
        return Run(store, created.id, plan, backend, engine, sleeps)

    return _prepare


def execute(run: Run, during: Callable[[Run], Awaitable[None]] | None = None) -> EngineResult[Any]:
    """Run the engine to its end; ``during(run)`` runs alongside (e.g. to cancel it)."""

    async def main() -> EngineResult[Any]:
        task = asyncio.ensure_future(run.engine.run(run.plan))
        if during is not None:
            await during(run)
        return await asyncio.wait_for(task, 5)

    return asyncio.run(main())


def respects_dependencies(run: Run) -> bool:
    """Every start came after each of the stage's dependencies succeeded (or was ready)."""
    settled: set[str] = set()
    for what, stage, _ in run.backend.timeline:
        if what == "start" and not set(run.plan.stages[stage].depends_on) <= settled:
            return False
        if what in ("succeeded", "ready"):
            settled.add(stage)
    return True


# -- 1. retries and backoff ----------------------------------------------------------------------


def test_failed_attempts_are_retried_with_growing_backoff(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=2, backoff=10, factor=2))
    backend = FakeBackend({"train": [fail("boom 1"), fail("boom 2", reason="exit"), ok()]})
    run = prepare(plan, backend)

    result = execute(run)

    assert result.status == "succeeded"
    assert backend.attempts("train") == [1, 2, 3]
    assert run.sleeps.delays == [10.0, 20.0]
    retrying = run.events("stage.retrying", "train")
    assert [(e.attempt, e.data["reason"]) for e in retrying] == [(1, "error"), (2, "exit")]
    assert retrying[0].data["message"] == "boom 1 - retry 1 of 2 in 10s"
    assert retrying[1].data["message"] == "boom 2 - retry 2 of 2 in 20s"
    assert [e.attempt for e in run.events("stage.starting", "train")] == [1, 2, 3]
    row = run.stage("train")
    assert (row.status, row.attempt) == ("succeeded", 3)
    assert run.status == "succeeded"


def test_max_backoff_caps_the_delay(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=3, backoff=10, factor=10, max_backoff=50))
    run = prepare(plan, FakeBackend({"train": [fail(), fail(), fail(), ok()]}))

    assert execute(run).status == "succeeded"
    assert run.sleeps.delays == [10.0, 50.0, 50.0]


def test_a_stage_that_fails_every_retry_fails_the_run(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=2), batch("after", "train"))
    backend = FakeBackend({"train": [fail("boom", details={"cell": 3, "ename": "ValueError"})]})
    run = prepare(plan, backend)

    result = execute(run)

    assert (result.status, result.failed_stage) == ("failed", "train")
    assert backend.attempts("train") == [1, 2, 3]
    assert run.sleeps.delays == [10.0, 20.0]
    failed = run.events("stage.failed", "train")
    assert [(e.attempt, e.data["reason"], e.data["message"]) for e in failed] == [
        (3, "error", "boom")
    ]
    assert (failed[0].data["cell"], failed[0].data["ename"]) == (3, "ValueError")
    assert run.statuses() == {"train": "failed", "after": "skipped"}
    assert run.status == "failed"


def test_bad_input_is_not_retried(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=3))
    backend = FakeBackend({"train": [fail("no such parameter", reason="bad_input"), ok()]})
    run = prepare(plan, backend)

    assert execute(run).status == "failed"
    assert backend.attempts("train") == [1]
    assert run.sleeps.delays == []
    assert run.events("stage.retrying") == []
    assert run.events("stage.failed", "train")[0].data["reason"] == "bad_input"
    assert run.stage("train").status == "failed"


def test_a_service_is_not_retried_and_a_failed_one_is_stopped(prepare: Prepare) -> None:
    plan = make_plan(service("serve", retries=2))
    backend = FakeBackend({"serve": [fail("port in use"), ready()]})
    run = prepare(plan, backend)

    assert execute(run).status == "failed"
    assert backend.attempts("serve") == [1]
    assert backend.stop_reasons() == {"serve": ["failed"]}
    assert run.sleeps.delays == []
    assert run.stage("serve").status == "failed"


# -- 2. timeouts ---------------------------------------------------------------------------------


def test_a_hanging_stage_is_stopped_at_its_timeout(prepare: Prepare) -> None:
    plan = make_plan(batch("train", timeout=0.05))
    backend = FakeBackend({"train": [hang()]})
    run = prepare(plan, backend, timeout_grace=0.0)

    result = execute(run)

    assert result.status == "failed"
    assert backend.stop_reasons() == {"train": ["timeout"]}
    assert backend.running == {}
    failed = run.events("stage.failed", "train")
    assert [(e.attempt, e.data["reason"]) for e in failed] == [(1, "timeout")]
    assert failed[0].data["message"] == "did not finish within its timeout (0.05s)"
    row = run.stage("train")
    assert (row.status, row.message) == ("failed", "did not finish within its timeout (0.05s)")
    assert run.status == "failed"


def test_a_timed_out_attempt_is_retried(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=1, timeout=0.05))
    backend = FakeBackend({"train": [hang(), ok()]})
    run = prepare(plan, backend, timeout_grace=0.0)

    assert execute(run).status == "succeeded"
    assert backend.attempts("train") == [1, 2]
    assert [(s.attempt, s.reason) for s in backend.stops] == [(1, "timeout")]
    assert [e.data["reason"] for e in run.events("stage.retrying", "train")] == ["timeout"]
    assert run.sleeps.delays == [10.0]
    assert run.stage("train").status == "succeeded"


def test_the_timeout_grace_is_added_to_the_timeout(prepare: Prepare) -> None:
    plan = make_plan(batch("train", timeout=0.01))
    backend = FakeBackend({"train": [ok(ms=40)]})
    run = prepare(plan, backend, timeout_grace=0.2)

    assert execute(run).status == "succeeded"
    assert backend.stops == []


def test_a_service_that_is_not_ready_in_time_fails_with_timeout(prepare: Prepare) -> None:
    plan = make_plan(service("serve", timeout=0.03))
    backend = FakeBackend({"serve": [hang()]})
    run = prepare(plan, backend, timeout_grace=0.0)

    assert execute(run).status == "failed"
    assert backend.stops[0].reason == "timeout"
    assert backend.running == {}
    assert run.events("stage.failed", "serve")[0].data["reason"] == "timeout"


# -- 3. cancel -----------------------------------------------------------------------------------


def cancel_plan() -> Plan:
    return make_plan(
        service("serve"),
        batch("a"),
        batch("b"),
        batch("c", "a"),
        batch("d", "b"),
    )


def test_cancel_stops_what_runs_and_skips_the_rest(prepare: Prepare) -> None:
    backend = FakeBackend({"serve": [ready("http://x")], "a": [hang()], "b": [hang()]})
    run = prepare(cancel_plan(), backend)

    async def cancel_when_running(run: Run) -> None:
        await run.until(lambda: {"a", "b"} <= set(backend.running_stages()))
        await run.until(lambda: run.stage("serve").status == "ready")
        run.engine.cancel()

    result = execute(run, cancel_when_running)

    assert result.status == "cancelled"
    assert backend.stop_reasons() == {
        "a": ["cancelled"],
        "b": ["cancelled"],
        "serve": ["cancelled"],
    }
    assert all(s.completed for s in backend.stops)
    assert backend.running == {}
    assert set(backend.start_order) == {"serve", "a", "b"}
    assert run.statuses() == {
        "serve": "stopped",
        "a": "cancelled",
        "b": "cancelled",
        "c": "skipped",
        "d": "skipped",
    }
    assert run.types()[-1] == "run.cancelled"
    assert run.status == "cancelled"


def test_cancel_lets_a_slow_stop_finish(prepare: Prepare) -> None:
    backend = FakeBackend({"a": [hang()], "b": [hang()]}, stop_ms=20)
    run = prepare(make_plan(batch("a"), batch("b"), batch("c", "a")), backend)

    async def cancel_when_running(run: Run) -> None:
        await run.until(lambda: len(backend.running) == 2)
        run.engine.cancel()

    assert execute(run, cancel_when_running).status == "cancelled"
    assert [(s.stage, s.reason) for s in backend.stops] == [("a", "cancelled"), ("b", "cancelled")]
    assert all(s.completed for s in backend.stops)
    assert backend.running == {}
    assert run.statuses() == {"a": "cancelled", "b": "cancelled", "c": "skipped"}


def test_cancel_during_a_backoff_wait_finishes_the_stage(prepare: Prepare) -> None:
    backend = FakeBackend({"train": [fail(), ok()]})
    run = prepare(make_plan(batch("train", retries=1)), backend, sleep=Sleeps(block=True))

    async def cancel_when_waiting(run: Run) -> None:
        await run.until(lambda: run.sleeps.delays == [10.0])
        run.engine.cancel()

    assert execute(run, cancel_when_waiting).status == "cancelled"
    assert backend.attempts("train") == [1]
    assert run.stage("train").status == "cancelled"


def test_cancel_before_anything_started(prepare: Prepare) -> None:
    backend = FakeBackend()
    run = prepare(make_plan(batch("a"), batch("b", "a")), backend)
    run.engine.cancel()

    assert execute(run).status == "cancelled"
    assert backend.starts == []
    assert run.statuses() == {"a": "skipped", "b": "skipped"}
    assert run.status == "cancelled"


# -- 4. run_on_failure ---------------------------------------------------------------------------


def failure_plan() -> Plan:
    return make_plan(
        service("serve"),
        batch("bad"),
        batch("slow"),
        batch("after_bad", "bad"),
        batch("after_slow", "slow"),
        run_on_failure=batch("notify"),
    )


def failing_backend() -> FakeBackend:
    return FakeBackend(
        {"serve": [ready("http://x")], "bad": [fail("boom", ms=10)], "slow": [hang()]}
    )


def test_a_failure_stops_everything_and_runs_the_failure_stage(prepare: Prepare) -> None:
    backend = failing_backend()
    run = prepare(failure_plan(), backend)

    result = execute(run)

    message = "stage 'bad' failed: boom"
    assert (result.status, result.failed_stage, result.message) == ("failed", "bad", message)
    assert set(backend.stop_reasons()) == {"serve", "slow"}
    assert backend.stop_reasons()["serve"] == ["failed"]
    assert backend.running == {}
    assert "after_bad" not in backend.start_order and "after_slow" not in backend.start_order
    notify = [s for s in backend.starts if s.stage == "notify"]
    assert [(s.attempt, s.extra_env) for s in notify] == [
        (1, {"BODYWORK_FAILED_STAGE": "bad", "BODYWORK_FAILURE": message})
    ]
    # the failure stage runs after everything else was stopped
    assert backend.timeline[-2:] == [("start", "notify", 1), ("succeeded", "notify", 1)]
    assert run.statuses() == {
        "serve": "stopped",
        "bad": "failed",
        "slow": "cancelled",
        "after_bad": "skipped",
        "after_slow": "skipped",
        "notify": "succeeded",
    }
    last = run.events()[-1]
    assert (last.type, last.data["stage_failed"], last.data["message"]) == (
        "run.failed",
        "bad",
        message,
    )
    assert run.status == "failed"


def test_a_failure_stops_running_stages_with_reason_failed(prepare: Prepare) -> None:
    plan = make_plan(batch("bad"), service("starting"), batch("slow"))
    backend = FakeBackend({"bad": [fail("boom", ms=10)], "starting": [hang()], "slow": [hang()]})
    run = prepare(plan, backend)

    assert execute(run).status == "failed"
    assert backend.stop_reasons() == {"starting": ["failed"], "slow": ["failed"]}


def test_the_failure_stage_does_not_run_when_all_succeed(prepare: Prepare) -> None:
    plan = make_plan(batch("a"), batch("b", "a"), run_on_failure=batch("notify"))
    backend = FakeBackend()
    run = prepare(plan, backend)

    assert execute(run).status == "succeeded"
    assert backend.start_order == ["a", "b"]
    assert run.statuses() == {"a": "succeeded", "b": "succeeded", "notify": "pending"}
    assert run.status == "succeeded"


def test_a_failing_failure_stage_leaves_the_run_failed(prepare: Prepare) -> None:
    plan = make_plan(batch("a"), run_on_failure=batch("notify"))
    backend = FakeBackend({"a": [fail("boom")], "notify": [fail("no mail server")]})
    run = prepare(plan, backend)

    result = execute(run)

    assert (result.status, result.failed_stage) == ("failed", "a")
    assert run.statuses() == {"a": "failed", "notify": "failed"}
    assert run.status == "failed"


# -- 5. max_parallel and dependencies ------------------------------------------------------------


def test_max_parallel_caps_the_attempts_running_at_once(prepare: Prepare) -> None:
    names = [f"s{i}" for i in range(8)]
    plan = make_plan(*(batch(n) for n in names))
    backend = FakeBackend({n: [ok(ms=3)] for n in names})
    run = prepare(plan, backend, max_parallel=3)

    assert execute(run).status == "succeeded"
    assert backend.peak == 3
    assert sorted(backend.start_order) == names
    assert set(run.statuses().values()) == {"succeeded"}
    assert run.status == "succeeded"


def test_a_stage_starts_once_its_dependencies_succeeded(prepare: Prepare) -> None:
    #   prep ─┬─ train ──────┬─ report
    #         └─ serve (svc) ┘
    plan = make_plan(
        batch("prep"),
        batch("train", "prep"),
        service("serve", "prep"),
        batch("report", "train", "serve"),
        batch("lone"),
    )
    backend = FakeBackend(
        {
            "prep": [ok(ms=5)],
            "train": [ok(ms=2)],
            "serve": [ready("http://x", ms=10)],
            "lone": [ok(ms=1)],
        }
    )
    run = prepare(plan, backend, max_parallel=8)

    assert execute(run).status == "deployed"
    assert respects_dependencies(run)
    timeline = backend.timeline
    assert timeline.index(("start", "report", 1)) > timeline.index(("ready", "serve", 1))
    assert timeline.index(("start", "report", 1)) > timeline.index(("succeeded", "train", 1))
    # a service counts once it is ready: it still serves while its dependents run
    assert backend.running_stages() == ["serve"]
    # an independent stage does not wait for the others
    assert timeline.index(("start", "lone", 1)) < timeline.index(("succeeded", "prep", 1))


def test_a_ready_service_does_not_hold_a_parallel_slot(prepare: Prepare) -> None:
    plan = make_plan(service("serve"), batch("a", "serve"), batch("b", "serve"))
    backend = FakeBackend({"a": [ok(ms=2)], "b": [ok(ms=2)]})
    run = prepare(plan, backend, max_parallel=2)

    assert execute(run).status == "deployed"
    assert backend.peak == 3  # the service serves on while a and b run side by side
    assert respects_dependencies(run)


# -- 6. a start that fails -----------------------------------------------------------------------


def test_a_start_that_raises_fails_the_stage_and_stops_the_others(prepare: Prepare) -> None:
    plan = make_plan(batch("a"), batch("b"), batch("c", "a"))
    backend = FakeBackend({"a": [raises(RuntimeError("no disk"), ms=5)], "b": [hang()]})
    run = prepare(plan, backend)

    result = execute(run)

    assert (result.status, result.failed_stage) == ("failed", "a")
    assert result.message == "stage 'a' failed: could not start: no disk"
    failed = run.events("stage.failed", "a")
    assert [(e.data["reason"], e.data["message"]) for e in failed] == [
        ("error", "could not start: no disk")
    ]
    assert backend.stop_reasons() == {"b": ["failed"]}  # stopped because another stage failed
    assert backend.running == {}
    assert run.statuses() == {"a": "failed", "b": "cancelled", "c": "skipped"}
    assert run.status == "failed"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TargetUnreachableError("cluster down"), "unreachable"),
        (BadInputError("no such image"), "bad_input"),
        (RuntimeError("oops"), "error"),
    ],
)
def test_the_start_error_gives_the_reason(prepare: Prepare, error: Exception, reason: str) -> None:
    plan = make_plan(batch("a", retries=2))
    backend = FakeBackend({"a": [raises(error)]})
    run = prepare(plan, backend)

    assert execute(run).status == "failed"
    failed = run.events("stage.failed", "a")
    assert [(e.data["reason"], e.data["message"]) for e in failed] == [
        (reason, f"could not start: {error}")
    ]
    assert backend.attempts("a") == [1]  # a start that raises is not retried
    assert run.stage("a").status == "failed"


def test_a_watch_that_raises_stops_the_attempt(prepare: Prepare) -> None:
    backend = FakeBackend({"a": [watch_raises(ConnectionError("lost the cluster"))]})
    run = prepare(make_plan(batch("a")), backend)

    assert execute(run).status == "failed"
    assert backend.running == {}
    assert "could not start" not in run.stage("a").message


# -- deployed runs, refs, runner events ----------------------------------------------------------


def test_a_ready_service_deploys_the_run(prepare: Prepare) -> None:
    plan = make_plan(batch("prep"), service("serve", "prep"))
    backend = FakeBackend({"serve": [ready("http://x")]})
    seen: list[tuple[dict[str, FakeHandle], str]] = []
    run: Run | None = None

    async def before_deployed(services: dict[str, FakeHandle]) -> None:
        assert run is not None
        seen.append((services, run.status))

    run = prepare(plan, backend, before_deployed=before_deployed)
    result = execute(run)

    assert result.status == "deployed"
    (handle,) = [h for h in backend.handles if h.stage == "serve"]
    assert result.services == {"serve": handle}
    # called with the handles, before the run is recorded as deployed
    assert seen == [({"serve": handle}, "running")]
    assert backend.running_stages() == ["serve"]
    assert backend.stops == []
    row = run.stage("serve")
    assert (row.status, row.url) == ("ready", "http://x")
    deployed = run.events("run.deployed")
    assert [e.data["urls"] for e in deployed] == [{"serve": "http://x"}]
    assert run.types()[-1] == "run.deployed"
    assert run.status == "deployed"


def test_starting_events_carry_the_backends_ref(prepare: Prepare) -> None:
    plan = make_plan(batch("train", retries=1), service("serve", "train"))
    backend = FakeBackend({"train": [fail(), ok()], "serve": [ready()]})
    run = prepare(plan, backend)

    assert execute(run).status == "deployed"
    starting = run.events("stage.starting")
    refs = [backend.ref(h) for h in backend.handles]
    assert [e.data["ref"] for e in starting] == refs
    assert [(r["stage"], r["attempt"]) for r in refs] == [("train", 1), ("train", 2), ("serve", 1)]
    # the row keeps the latest attempt's ref
    assert run.stage("train").ref == refs[1]
    assert run.stage("serve").ref == refs[2]

    async def attach_all() -> list[FakeHandle | None]:
        return [await backend.attach(e.data["ref"]) for e in starting]

    # only the still-running service can be attached to
    assert asyncio.run(attach_all()) == [None, None, backend.handles[2]]


def test_runner_events_are_recorded_without_their_envelope(prepare: Prepare) -> None:
    events = [
        ("stage.running", {"message": "running"}),
        ("cell.finished", {"cell": 1, "seconds": 0.5}),
        ("log.line", {"line": "noise"}),  # not kept in the history
    ]
    backend = FakeBackend({"train": [ok(events=events, notebook="train.ipynb")]})
    run = prepare(make_plan(batch("train")), backend)

    assert execute(run).status == "succeeded"
    runner = [e for e in run.events() if e.type.startswith("runner.")]
    assert [(e.type, e.stage, e.attempt, e.data) for e in runner] == [
        ("runner.stage.running", "train", 1, {"message": "running"}),
        ("runner.cell.finished", "train", 1, {"cell": 1, "seconds": 0.5}),
    ]
    assert run.stage("train").notebook_path == "train.ipynb"


# -- an engine that takes over a run (a restarted controller) -----------------------------------


def noop(type_: str, data: dict[str, Any]) -> None:
    """A sink for runner events nobody reads."""


def take_over(run: Run, progress: Progress) -> EngineResult[Any]:
    async def main() -> EngineResult[Any]:
        return await asyncio.wait_for(run.engine.run(run.plan, progress), 5)

    return asyncio.run(main())


def test_a_new_engine_does_not_rerun_what_succeeded_and_reattaches_to_what_runs(
    prepare: Prepare,
) -> None:
    plan = make_plan(batch("a"), batch("b", "a"), batch("c", "b"))
    backend = FakeBackend({"b": [ok(ms=30)]})
    run = prepare(plan, backend)

    async def first_engine_dies_mid_run() -> None:
        # what the first engine left: a succeeded, b's attempt 1 still going (its ref stored)
        handle = await backend.start(Attempt(run.run_id, "demo", plan, plan.stages["b"], 1), noop)
        run.store.record(run.run_id, "run.started")
        run.store.record(run.run_id, "stage.starting", "a", 1, ref={"backend": "fake", "id": 0})
        run.store.record(run.run_id, "stage.succeeded", "a", 1)
        run.store.record(run.run_id, "stage.starting", "b", 1, ref=backend.ref(handle))

    asyncio.run(first_engine_dies_mid_run())
    progress = Progress.from_rows(run.store.stages(run.run_id))
    assert progress.succeeded == {"a"} and set(progress.in_flight) == {"b"}

    result = take_over(run, progress)

    assert result.status == "succeeded"
    assert backend.start_order == ["b", "c"]  # b's start is the first engine's; a never again
    assert run.statuses() == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    assert run.stage("b").attempt == 1
    resumed = run.events("run.resumed")
    assert [(e.data["succeeded"], e.data["attaching"]) for e in resumed] == [(["a"], ["b"])]


def test_an_attempt_gone_when_the_engine_takes_over_counts_as_a_failed_attempt(
    prepare: Prepare,
) -> None:
    plan = make_plan(batch("a", retries=1), batch("b"))
    backend = FakeBackend()
    run = prepare(plan, backend)
    run.store.record(run.run_id, "run.started")
    run.store.record(run.run_id, "stage.starting", "a", 1, ref={"backend": "fake", "id": 99})
    run.store.record(run.run_id, "stage.starting", "b", 1, ref={"backend": "fake", "id": 98})

    result = take_over(run, Progress.from_rows(run.store.stages(run.run_id)))

    # a is retried (attempt 2) after its lost attempt; b has no retries left: it fails
    assert backend.attempts("a") == [2]
    assert [e.data["reason"] for e in run.events("stage.retrying", "a")] == ["lost"]
    failed = run.events("stage.failed", "b")
    assert [e.data["reason"] for e in failed] == ["lost"]
    assert result.status == "failed" and result.failed_stage == "b"


def test_a_stage_waiting_to_retry_goes_on_with_its_next_attempt(prepare: Prepare) -> None:
    plan = make_plan(batch("a", retries=2))
    backend = FakeBackend()
    run = prepare(plan, backend)
    run.store.record(run.run_id, "run.started")
    run.store.record(run.run_id, "stage.starting", "a", 1, ref={"backend": "fake", "id": 97})
    run.store.record(run.run_id, "stage.retrying", "a", 1, message="boom - retry 1 of 2 in 10s")

    result = take_over(run, Progress.from_rows(run.store.stages(run.run_id)))

    assert result.status == "succeeded" and backend.attempts("a") == [2]
