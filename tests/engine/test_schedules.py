"""Schedules on this machine: the timing (fast, on a real store), then real supervisors
firing a schedule of croniter's seconds field (``BODYWORK_SCHEDULE_SECONDS=1``: tests
cannot wait minutes; users get five fields)."""

from __future__ import annotations

import datetime
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from bodywork_jupyter.backends.local import scheduling
from bodywork_jupyter.backends.local.supervisor import supervisor_running
from bodywork_jupyter.engine.store import Run, RunStore
from bodywork_jupyter.errors import BadInputError
from tests.engine.helpers import Bodywork, run_id_of
from tests.projects import write_yaml

T = TypeVar("T")

PLAN = {
    "pipeline": "nightly",
    "order": ["tick"],
    "stages": {"tick": {"kind": "batch"}},
    "run_on_failure": None,
    "source": {"local_path": "/x"},
}
#: 2026-01-01 00:00:00 UTC: a fire time of every schedule below.
MIDNIGHT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the timing ---------------------------------------------------------------------------


def test_due_is_the_latest_fire_time_and_counts_the_missed_ones() -> None:
    assert scheduling.due("* * * * *", MIDNIGHT, MIDNIGHT + 59) is None
    assert scheduling.due("* * * * *", MIDNIGHT, MIDNIGHT + 60) == scheduling.Due(MIDNIGHT + 60, 0)
    # three fire times passed (a run was going, or no supervisor was up): one run, two skipped
    assert scheduling.due("* * * * *", MIDNIGHT, MIDNIGHT + 200) == scheduling.Due(
        MIDNIGHT + 180, 2
    )
    # read in UTC: 03:00 UTC, whatever this machine's zone
    assert scheduling.due("0 3 * * *", MIDNIGHT, MIDNIGHT + 4 * 3600) == scheduling.Due(
        MIDNIGHT + 3 * 3600, 0
    )


def test_expressions_have_five_fields_and_seconds_only_for_tests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(scheduling.SECONDS_ENV, raising=False)
    for good in ("0 3 * * *", "*/5 * * * 1-5", "@daily"):
        scheduling.check(good)
    for bad in ("* * * * * */2", "0 3 * *", "every day", "0 3 * * * 2030"):
        with pytest.raises(BadInputError, match="five fields"):
            scheduling.check(bad)
    monkeypatch.setenv(scheduling.SECONDS_ENV, "1")
    scheduling.check("* * * * * */2")


def test_a_fire_is_acted_on_once_whoever_looks(tmp_path: Path) -> None:
    """The last fire is in the store, not in a supervisor's memory: a new one (after a
    restart) does not run it again."""
    store = RunStore(tmp_path)
    store.put_schedule("nightly", "* * * * *", PLAN, {"max_parallel": 2})
    created = store.get_schedule("nightly")
    assert created is not None and created.anchor == created.created
    first = scheduling.next_fire("* * * * *", created.created)

    timer = scheduling.Timer(store, "nightly")
    assert timer.fire_if_due(now=first - 1) is None
    run = timer.fire_if_due(now=first + 130)  # three fire times passed: one run
    assert run is not None and run.status == "queued"
    assert run.options == {"max_parallel": 2, "scheduled": True, "fire": first + 120}
    assert timer.fire_if_due(now=first + 130) is None
    assert scheduling.Timer(store, "nightly").fire_if_due(now=first + 130) is None  # restarted
    kept = store.get_schedule("nightly")
    assert kept is not None and (kept.last_run, kept.skipped) == (run.id, 2)

    store.pause_schedule("nightly", True)
    assert timer.fire_if_due(now=first + 300) is None and not timer.keeps_alive()
    store.pause_schedule("nightly", False)  # a fire missed while paused: one run at once
    assert timer.fire_if_due(now=first + 300) is not None

    # a redeploy keeps the last fire; deleting it leaves nothing to fire
    store.put_schedule("nightly", "*/5 * * * *", PLAN, {})
    again = store.get_schedule("nightly")
    assert again is not None and again.last_fire == first + 300 and not again.paused
    assert store.delete_schedule("nightly") is not None
    assert timer.fire_if_due(now=first + 9999) is None and not timer.keeps_alive()


# -- real supervisors ------------------------------------------------------------------------


@pytest.fixture
def seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seconds schedules for this test's CLI calls (and the supervisors they start)."""
    monkeypatch.setenv(scheduling.SECONDS_ENV, "1")


@pytest.fixture(autouse=True)
def no_schedule_left(bw: Bodywork) -> Iterator[None]:
    """A schedule's supervisor stays up: remove every schedule before ``bw`` deletes the
    deployments (a schedule with no run yet has no deployment to delete)."""
    yield
    for schedule in bw.store().schedules():
        bw("schedule", "delete", schedule.deployment)


def ticker(folder: Path, name: str, schedule: str | None, sleep: float = 0) -> Path:
    """A one-stage pipeline whose module writes a file per run into ``folder/out``."""
    project, out = folder / name, folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    project.mkdir(parents=True)
    (project / "tick.py").write_text(
        "import os, pathlib, time\n"
        f"time.sleep({sleep})\n"
        "pathlib.Path(os.environ['OUT'], os.environ['BODYWORK_RUN_ID']).touch()\n"
        "print('tick')\n",
        encoding="utf-8",
    )
    fields = f", schedule: {schedule!r}" if schedule else ""
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: {name}{fields}}}\n'
        f"stages: {{tick: {{path: tick.py, env: {{OUT: {str(out)!r}}}}}}}\n",
    )
    return project


def scheduled_runs(bw: Bodywork, name: str) -> list[Run]:
    return [r for r in bw.store().runs(name) if r.options.get("scheduled")]


def settled(bw: Bodywork, name: str, count: int) -> list[Run] | None:
    """The schedule's runs once ``count`` of them have succeeded."""
    runs = scheduled_runs(bw, name)
    return runs if sum(r.status == "succeeded" for r in runs) >= count else None


@pytest.mark.usefixtures("seconds")
def test_a_schedule_fires_is_listed_paused_resumed_and_deleted(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = ticker(tmp_path, "ticker", "* * * * * */2")
    deployed = bw("deploy", project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    at_deploy = run_id_of(deployed)

    runs = wait_for("two scheduled runs", lambda: settled(bw, "ticker", 2))
    assert at_deploy not in {r.id for r in runs}  # the deploy's own run is no scheduled one
    fires = [r.options["fire"] for r in runs]
    assert len(set(fires)) == len(fires) and all(f % 2 == 0 for f in fires)

    listed = bw("get", "runs", "ticker").stdout
    assert all(r.id in listed for r in runs) and at_deploy in listed
    history = bw("get", "cronjob", "ticker", "--history")
    assert history.returncode == 0 and runs[-1].id in history.stdout
    assert at_deploy not in history.stdout
    table = bw("get", "cronjobs").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "SCHEDULE", "STATE", "NEXT"], table
    assert table[1].startswith("ticker") and "* * * * * */2    active" in table[1], table
    shown = bw("schedule", "show", "ticker").stdout
    assert "state       active" in shown and str(project) in shown, shown

    paused = bw("schedule", "pause", "ticker")
    assert paused.returncode == 0 and "paused schedule 'ticker'" in paused.stdout
    assert "ticker" in bw("get", "cronjobs").stdout.splitlines()[1]
    assert " paused " in bw("get", "cronjobs").stdout
    # a run that had started goes on; after it, nothing more starts
    wait_for("runs to settle", lambda: not bw.store().active_runs())
    before = len(scheduled_runs(bw, "ticker"))
    time.sleep(5)
    assert len(scheduled_runs(bw, "ticker")) == before

    resumed = bw("schedule", "resume", "ticker")
    assert resumed.returncode == 0 and "resumed schedule 'ticker'" in resumed.stdout
    wait_for("a run after resuming", lambda: settled(bw, "ticker", before + 1))

    deleted = bw("delete", "cronjob", "ticker")
    assert deleted.returncode == 0, deleted.stderr
    assert bw("get", "cronjobs").stdout.strip() == "no schedules"
    store = bw.store()
    # with no services and no schedule its supervisor leaves; nothing more starts
    wait_for("the supervisor to leave", lambda: not supervisor_running(store, "ticker"))
    count = len(scheduled_runs(bw, "ticker"))
    time.sleep(3)
    assert len(scheduled_runs(bw, "ticker")) == count
    assert bw("get", "deployments").stdout.split("\n")[1].startswith("ticker")  # it stays


@pytest.mark.usefixtures("seconds")
def test_a_killed_supervisor_is_replaced_and_the_schedule_goes_on(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = ticker(tmp_path, "phoenix", "* * * * * */2")
    assert bw("deploy", project).returncode == 0
    wait_for("a scheduled run", lambda: settled(bw, "phoenix", 1))
    store = bw.store()
    record = store.get_deployment("phoenix")
    assert record is not None and record.supervisor_pid
    os.kill(record.supervisor_pid, signal.SIGKILL)
    wait_for("the lock to be free", lambda: not supervisor_running(store, "phoenix"))
    # two fire times pass with no supervisor up (counted from the last one acted on: a
    # fixed sleep after the kill saw one or two, as the kill fell early or late in a period)
    killed = store.get_schedule("phoenix")
    assert killed is not None and killed.last_fire is not None
    time.sleep(max(0.0, killed.last_fire + 4.5 - time.time()))
    before = {r.id for r in scheduled_runs(bw, "phoenix")}

    # the next command that looks starts a new supervisor, which reads the last fire
    assert bw("get", "cronjobs").returncode == 0
    wait_for("a new supervisor", lambda: supervisor_running(store, "phoenix"))
    revived = store.get_deployment("phoenix")
    assert revived is not None and revived.supervisor_pid != record.supervisor_pid
    runs = wait_for(
        "runs after the restart",
        lambda: settled(bw, "phoenix", len(before) + 2),
    )
    fires = [r.options["fire"] for r in runs]
    assert len(set(fires)) == len(fires)  # no fire time ran twice
    after = [r for r in runs if r.id not in before]
    # what was missed while it was down made one run, not one per fire time
    schedule = store.get_schedule("phoenix")
    assert schedule is not None and schedule.skipped >= 1
    assert min(r.created for r in after) - max(r.created for r in runs if r.id in before) > 2.5


@pytest.mark.usefixtures("seconds")
def test_a_fire_while_a_run_is_going_does_not_start_another(tmp_path: Path, bw: Bodywork) -> None:
    """concurrencyPolicy Forbid, as on a cluster: the fires during a run make one run
    when it ends."""
    project = ticker(tmp_path, "slow", "* * * * * *", sleep=3)
    assert bw("deploy", project, "--detach").returncode == 0
    runs = wait_for("two scheduled runs", lambda: settled(bw, "slow", 2), timeout=45)
    every = sorted(bw.store().runs("slow"), key=lambda r: r.created)
    spans = [(r.started, r.finished) for r in every if r.started and r.finished]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # one at a time
    schedule = bw.store().get_schedule("slow")
    assert schedule is not None and schedule.skipped >= 2  # ~3 fires per 3 s run
    assert len(runs) < 10


def test_bodywork_3_cronjob_commands(
    tmp_path: Path, bw: Bodywork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(scheduling.SECONDS_ENV, raising=False)
    project = ticker(tmp_path, "nightly", None)
    created = bw(
        "create", "cronjob", project, "--name", "nightly", "--schedule", "0 3 * * *",
        "--retries", "2", "--history-limit", "1",
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created schedule 'nightly': '0 3 * * *' (UTC), next run" in created.stdout
    assert "03:00:00 UTC" in created.stdout and "--retries 2: not used" in created.stdout
    assert bw.store().runs("nightly") == []  # Bodywork's create cronjob runs nothing now

    again = bw("create", "cronjob", project, "--schedule", "0 4 * * *")
    assert again.returncode == 2 and "has a schedule already" in again.stderr
    seconds = bw("create", "cronjob", project, "--schedule", "* * * * * */2")
    assert seconds.returncode == 2 and "five fields" in seconds.stderr
    bad = bw("schedule", "create", project, "--schedule", "daily")
    assert bad.returncode == 2 and "--schedule: 'daily' is not a cron expression" in bad.stderr
    other = bw("update", "cronjob", project, "--name", "other", "--schedule", "30 1 * * *")
    assert other.returncode == 0 and "--name other: a schedule is named after" in other.stderr

    shown = bw("get", "cronjob", "nightly")
    assert "'30 1 * * *' (read in UTC)" in shown.stdout and "01:30:00 UTC" in shown.stdout
    missing = bw("get", "cronjob", "nope")
    assert missing.returncode == 2 and "no schedule 'nope' (schedules: nightly)" in missing.stderr
    assert bw("schedule", "pause", "nope").returncode == 2
    # a schedule that has not run yet is no deployment: the error says what to delete
    undeployed = bw("delete", "deployment", "nightly")
    assert undeployed.returncode == 2 and "bodywork schedule delete nightly" in undeployed.stderr

    # a deploy of the pipeline (no schedule in its bodywork.yaml) leaves it none, as on a
    # cluster; and one with a schedule, deleted, takes it along
    assert bw("deploy", project).returncode == 0
    assert bw("get", "cronjobs").stdout.strip() == "no schedules"
    scheduled = ticker(tmp_path / "v2", "nightly", "0 3 * * *")
    assert bw("deploy", scheduled).returncode == 0
    assert "nightly" in bw("get", "cronjobs").stdout
    assert bw("delete", "deployment", "nightly").returncode == 0
    assert bw("get", "cronjobs").stdout.strip() == "no schedules"
    store = bw.store()
    wait_for("the supervisor to leave", lambda: not supervisor_running(store, "nightly"))

    # Bodywork 2.x: 'bodywork cronjob ACTION --ns NS ...' (no namespace on this machine)
    old = bw(
        "cronjob", "create", "--ns", "prod", "--name", "nightly", "--schedule", "0 3 * * *",
        "--git-repo-url", project,
    )  # fmt: skip
    assert old.returncode == 0 and "left out on this machine" in old.stderr, old.stderr
    assert bw("cronjob", "display").stdout.splitlines()[1].startswith("nightly")
    assert bw("cronjob", "delete", "--name", "nightly").returncode == 0
