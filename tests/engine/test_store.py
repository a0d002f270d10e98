"""The run store: events fold into summary rows, history survives crashes and upgrades."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bodywork_jupyter.engine.store import RunStore
from tests.engine.helpers import store_from_before_started_by

PLAN = {
    "order": ["prep", "serve"],
    "stages": {"prep": {"kind": "batch"}, "serve": {"kind": "service"}},
    "run_on_failure": None,
}


def test_events_drive_run_and_stage_status(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run = store.create_run("demo", "demo", "local", {"local_path": "/x"}, PLAN, {"max_parallel": 2})
    assert (run.status, run.options) == ("queued", {"max_parallel": 2})
    store.record(run.id, "run.started")
    store.record(run.id, "stage.starting", "prep", 1, ref={"pids": [1]})
    store.record(run.id, "stage.retrying", "prep", 1, message="boom - retry 1 of 1 in 10s")
    store.record(run.id, "stage.starting", "prep", 2, ref={"pids": [2]})
    store.record(run.id, "stage.succeeded", "prep", 2)
    store.record(run.id, "stage.starting", "serve", 1)
    store.record(run.id, "stage.ready", "serve", 1, url="http://127.0.0.1:5000")
    store.record(run.id, "run.deployed", message="services ready")
    stages = {s.stage: s for s in store.stages(run.id)}
    assert (stages["prep"].status, stages["prep"].attempt) == ("succeeded", 2)
    assert stages["prep"].ref == {"pids": [2]}  # the newest attempt's handle reference
    assert (stages["serve"].status, stages["serve"].url) == ("ready", "http://127.0.0.1:5000")
    assert store.get_run(run.id).status == "deployed"  # type: ignore[union-attr]
    assert [e.type for e in store.events(run.id)][:3] == [
        "run.queued",
        "run.started",
        "stage.starting",
    ]
    assert [r.id for r in store.runs_with_prefix(run.id[:12])] == [run.id]


def test_run_id_prefixes_are_text_not_patterns(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run = store.create_run("demo", "demo", "local", {}, PLAN)
    assert store.runs_with_prefix("%") == []
    assert store.runs_with_prefix("_" * 8) == []
    assert [r.id for r in store.runs_with_prefix(run.id[:4])] == [run.id]


def test_a_silent_heartbeat_makes_its_runs_lost(tmp_path: Path) -> None:
    """Liveness is the supervisor's heartbeat, not whether some pid exists on this machine."""
    from bodywork_jupyter.backends.local.target import LOST_AFTER_SECONDS, LocalTarget
    from bodywork_jupyter.targets import TargetOptions

    target = LocalTarget(TargetOptions(state_dir=tmp_path))
    store = target.store
    run = store.create_run("demo", "demo", "local", {}, PLAN)
    # a live process's pid, but a heartbeat that stopped long ago: lost
    store.set_supervisor("demo", 1, run.id)
    store.record(run.id, "run.started")
    store.record(run.id, "stage.starting", "prep", 1)
    store.heartbeat("demo")
    target.refresh()
    assert store.get_run(run.id).status == "running"  # type: ignore[union-attr]
    store._db.execute(
        "UPDATE deployments SET heartbeat=? WHERE name='demo'",
        (time.time() - LOST_AFTER_SECONDS - 1,),
    )
    target.refresh()
    assert store.get_run(run.id).status == "lost"  # type: ignore[union-attr]
    assert {s.stage: s.status for s in store.stages(run.id)}["prep"] == "lost"
    assert store.get_deployment("demo").status == "lost"  # type: ignore[union-attr]


def test_a_supervisor_that_left_leaves_no_run_running(tmp_path: Path) -> None:
    from bodywork_jupyter.backends.local.target import LocalTarget
    from bodywork_jupyter.targets import TargetOptions

    target = LocalTarget(TargetOptions(state_dir=tmp_path))
    store = target.store
    run = store.create_run("demo", "demo", "local", {}, PLAN)
    queued = store.create_run("demo", "demo", "local", {}, PLAN)
    store.set_supervisor("demo", 1, run.id)
    store.record(run.id, "run.started")
    store.set_supervisor("demo", None)  # it exits: no heartbeat any more
    target.refresh()
    assert store.get_run(run.id).status == "lost"  # type: ignore[union-attr]
    # a run queued moments ago is given time for its supervisor to start
    assert store.get_run(queued.id).status == "queued"  # type: ignore[union-attr]


WRITER = """
import sys
from pathlib import Path
from bodywork_jupyter.engine.store import RunStore
from tests.engine.helpers import store_from_before_started_by
store = RunStore(Path(sys.argv[1]))
run = store.create_run("crash", "crash", "local", {}, {"order": ["a"], "stages": {"a": {"kind": "batch"}}})
print(run.id, flush=True)
while True:
    store.record(run.id, "runner.cell.finished", "a", 1, index=1, total=1)
"""


def test_a_crash_mid_write_leaves_history_whole(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    run_id = writer.stdout.readline().strip()
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    store = RunStore(tmp_path)
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    events = store.events(run_id)
    assert len(events) > 10
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_an_older_store_is_upgraded_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.executescript(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, deployment TEXT NOT NULL, status TEXT NOT NULL,"
        " created REAL NOT NULL, started REAL, finished REAL, source TEXT NOT NULL,"
        " plan TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');"
        "INSERT INTO runs VALUES ('old-run', 'demo', 'succeeded', 1, 1, 2, '{}', '{}', 'done');"
    )
    db.commit()
    db.close()
    store = RunStore(tmp_path)
    old = store.get_run("old-run")
    assert old is not None and old.status == "succeeded" and old.options == {}


def test_who_started_a_run_is_kept_with_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run = store.create_run("demo", "demo", "local", {}, PLAN, started_by="ada")
    nobody = store.create_run("demo", "demo", "local", {}, PLAN)
    assert (run.started_by, nobody.started_by) == ("ada", None)
    # the listings read without plans say it too
    assert {r.id: r.started_by for r in store.runs()} == {run.id: "ada", nobody.id: None}
    assert store.runs_with_prefix(run.id)[0].started_by == "ada"
    assert store.get_run(run.id, with_plan=False).started_by == "ada"  # type: ignore[union-attr]
    # a store rebuilt from a run's record (a cluster's) keeps it
    copy = RunStore(tmp_path / "copy")
    copy.insert_run(run)
    assert copy.get_run(run.id).started_by == "ada"  # type: ignore[union-attr]


def test_a_schedules_fire_is_started_by_the_schedule(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.put_schedule("ticker", "* * * * *", {**PLAN, "pipeline": "ticker"}, {})
    fired = store.create_scheduled_run("ticker", "local", time.time() + 60, skipped=0)
    assert fired is not None and fired.started_by == "schedule ticker"
    assert fired.options["scheduled"] is True


def test_a_store_from_before_started_by_reads_its_runs_as_started_by_nobody(
    tmp_path: Path,
) -> None:
    store_from_before_started_by(tmp_path, "old-run")
    store = RunStore(tmp_path)
    old = store.get_run("old-run")
    assert old is not None and old.status == "succeeded" and old.started_by is None
    assert [(r.id, r.started_by) for r in store.runs()] == [("old-run", None)]
    # upgraded in place: its new runs say who started them
    new = store.create_run("demo", "demo", "local", {}, PLAN, started_by="ada")
    assert store.get_run(new.id).started_by == "ada"  # type: ignore[union-attr]


def test_the_serving_run_is_found_behind_many_failed_redeploys(tmp_path: Path) -> None:
    """The deployment view reads a deployment's newest runs at once: a serving version older
    than all of them (more failed redeploys in a row than it reads) is still the one shown."""
    from bodywork_jupyter.backends.local.target import LocalTarget
    from bodywork_jupyter.reader import RECENT_RUNS, RunReader
    from bodywork_jupyter.targets import TargetOptions

    store = RunStore(tmp_path)
    served = store.create_run("demo", "demo", "local", {}, PLAN)
    store.record(served.id, "run.started")
    store.record(served.id, "stage.starting", "serve", 1)
    store.record(served.id, "stage.ready", "serve", 1, url="http://127.0.0.1:9")
    store.record(served.id, "run.deployed", message="services ready")
    for _ in range(RECENT_RUNS + 5):
        failed = store.create_run("demo", "demo", "local", {}, PLAN)
        store.record(failed.id, "run.started")
        store.record(failed.id, "run.failed", message="boom")
    reader = RunReader(LocalTarget(TargetOptions(name="local", state_dir=tmp_path)))
    view = reader.deployment("demo")
    assert view.serving_run is not None and view.serving_run.id == served.id
    assert view.run is not None and view.run.id == failed.id
    assert (view.status, view.urls) == ("serving", {"serve": "http://127.0.0.1:9"})
    assert reader.serving_instead(view.run) is not None
    assert [r.id for r in store.runs("demo", limit=3, status="deployed")] == [served.id]
    store.close()
