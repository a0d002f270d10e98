"""The run store: deployments, runs, stage attempts and events in SQLite.

Events are the one way state changes: ``record()`` appends an event and updates
the summary rows in one transaction, so a crash mid-run leaves history whole
(WAL journal; every write is a short transaction). Whether a run is still driven
by someone is not the store's question: each target decides (the local target from
its supervisor's heartbeat) and records ``run.lost``.

A state folder that cannot be written (read-only, or full when the store is opened) is
opened read-only: its history reads as always, and every write raises the
``StateFolderError`` that says why (``state_errors``), before it changes anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.engine import state_errors, states
from bodywork_jupyter.engine.started_by import by_schedule
from bodywork_jupyter.engine.states import RunStatus, StageStatus
from bodywork_jupyter.errors import StateFolderError

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status TEXT NOT NULL,
    current_run TEXT,
    supervisor_pid INTEGER,
    heartbeat REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    source TEXT NOT NULL,
    plan TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    options TEXT NOT NULL DEFAULT '{}',
    started_by TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_deployment ON runs (deployment, created);
CREATE TABLE IF NOT EXISTS stages (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    message TEXT NOT NULL DEFAULT '',
    url TEXT,
    log_path TEXT,
    notebook_path TEXT,
    ref TEXT,
    PRIMARY KEY (run_id, stage)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    time REAL NOT NULL,
    type TEXT NOT NULL,
    stage TEXT,
    attempt INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
CREATE TABLE IF NOT EXISTS schedules (
    deployment TEXT PRIMARY KEY,
    cron TEXT NOT NULL,
    plan TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    paused INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_fire REAL,
    last_run TEXT,
    skipped INTEGER NOT NULL DEFAULT 0
);
"""


#: Columns added after a table's first release, with their definitions. A store opened
#: read-only keeps the columns it has: its reads name only those (``_no_plan_columns``).
_ADDED_COLUMNS = {
    "runs": {
        "cancel_requested": "INTEGER NOT NULL DEFAULT 0",
        "options": "TEXT NOT NULL DEFAULT '{}'",
        "started_by": "TEXT",  # stores from before it read NULL: not recorded
    },
    "stages": {"ref": "TEXT"},
}


def default_state_dir() -> Path:
    """``$BODYWORK_STATE_DIR``, else the user's data folder."""
    configured = os.environ.get("BODYWORK_STATE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bodywork-jupyter"


@dataclass(frozen=True)
class Deployment:
    name: str
    pipeline: str
    target: str
    source: dict[str, Any]
    created: float
    updated: float
    status: str
    current_run: str | None
    supervisor_pid: int | None
    heartbeat: float | None


@dataclass(frozen=True)
class Run:
    id: str
    deployment: str
    status: RunStatus
    created: float
    started: float | None
    finished: float | None
    source: dict[str, Any]
    plan: dict[str, Any]
    message: str
    cancel_requested: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    #: who started it (``started_by``: a user, or "schedule NAME"); None: not recorded
    started_by: str | None = None


@dataclass(frozen=True)
class StageState:
    run_id: str
    stage: str
    kind: str
    status: StageStatus
    attempt: int
    started: float | None
    finished: float | None
    message: str
    url: str | None
    log_path: str | None  # stores written before 0.2 only; logs are read through the target
    notebook_path: str | None
    ref: dict[str, Any] | None = None  # the backend's stored handle reference


@dataclass(frozen=True)
class Schedule:
    """A deployment's schedule on this machine: the plan it runs and when it last fired."""

    deployment: str
    cron: str
    plan: dict[str, Any]
    options: dict[str, Any]
    paused: bool
    created: float
    updated: float
    last_fire: float | None  # the fire time of the last run it started
    last_run: str | None  # that run's id
    skipped: int  # fire times that came while a run was going (or no supervisor was up)

    @property
    def anchor(self) -> float:
        """Fire times after this one are still to come (as a CronJob counts from its
        lastScheduleTime, else from its creation)."""
        return self.last_fire if self.last_fire is not None else self.created


@dataclass(frozen=True)
class Event:
    seq: int
    run_id: str
    time: float
    type: str
    stage: str | None
    attempt: int | None
    data: dict[str, Any]


class RunStore:
    """One SQLite file under the state folder; safe to open from several processes."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.path = self.state_dir / "runs.sqlite"
        #: why this store only reads (its folder refused to be written), else None
        self.read_only: StateFolderError | None = None
        try:
            self._db = self._open_for_writing()
        except StateFolderError as exc:
            self.read_only = exc
            self._db = self._open_for_reading(exc)
        self._no_plan = _no_plan_columns(self._db)

    def close(self) -> None:
        self._db.close()

    def _open_for_writing(self) -> sqlite3.Connection:
        with state_errors.translated(self.state_dir):
            self.state_dir.mkdir(parents=True, exist_ok=True)
            state_errors.check_writable(self.state_dir, self.path)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SCHEMA)
                _migrate(db)
            except BaseException:
                db.close()
                raise
        return db

    def _open_for_reading(self, why: StateFolderError) -> sqlite3.Connection:
        """The store as it is, read-only, without schema changes (none can be written).

        ``mode=ro`` reads a WAL store whose -shm and -wal files exist (a supervisor left
        them, or is still writing through another mount); when they do not (it was closed
        cleanly) SQLite cannot create them on a read-only or full folder, and then the file
        alone is the whole store: ``immutable=1`` reads it without them. A folder with no
        store yet reads as an empty history.
        """
        if not self.path.exists():
            return _empty_store()
        uri = self.path.as_uri()
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
            db.execute("SELECT name FROM sqlite_master").fetchall()  # opens it for real
        except sqlite3.OperationalError as exc:
            if db is not None:
                db.close()
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise why from exc  # its newest history is in a WAL that cannot be read
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        db.row_factory = sqlite3.Row
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables:  # created, but its schema was never written
            db.close()
            return _empty_store()
        return db

    def writable(self) -> bool:
        """Whether it can be written now: a store opened read-only tries its folder again."""
        try:
            self._writable()
        except StateFolderError:
            return False
        return True

    def _writable(self) -> None:
        """Raise the StateFolderError that keeps this store read-only, if one still does."""
        if self.read_only is None:
            return
        try:
            db = self._open_for_writing()
        except StateFolderError as exc:
            self.read_only = exc
            raise
        self._db.close()
        self._db, self.read_only = db, None
        self._no_plan = _no_plan_columns(db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._writable()
        with state_errors.translated(self.state_dir):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite ends a transaction itself on some errors (a full disk)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # -- folders -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self._folder(self.state_dir / "runs" / run_id)

    def cache_dir(self) -> Path:
        return self._folder(self.state_dir / "cache")

    def _folder(self, path: Path) -> Path:
        with state_errors.translated(self.state_dir):
            path.mkdir(parents=True, exist_ok=True)
        return path

    # -- writes --------------------------------------------------------------------------------

    def create_run(
        self,
        deployment: str,
        pipeline: str,
        target: str,
        source: dict[str, Any],
        plan: dict[str, Any],
        options: dict[str, Any] | None = None,
        started_by: str | None = None,
    ) -> Run:
        """A new queued run; ``started_by``: who asked for it (``engine.started_by``)."""
        with self._tx() as db:
            run_id = self._insert_new_run(
                db, deployment, pipeline, target, source, plan, options or {}, {}, started_by
            )
        run = self.get_run(run_id)
        assert run is not None
        return run

    def _insert_new_run(
        self,
        db: sqlite3.Connection,
        deployment: str,
        pipeline: str,
        target: str,
        source: dict[str, Any],
        plan: dict[str, Any],
        options: dict[str, Any],
        queued: dict[str, Any],
        started_by: str | None,
    ) -> str:
        """A new queued run's rows (and its deployment's), inside the caller's transaction;
        ``queued`` is more data for its ``run.queued`` event."""
        now = time.time()
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + uuid.uuid4().hex[:6]
        db.execute(
            "INSERT INTO deployments (name, pipeline, target, source, created, updated, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " pipeline=excluded.pipeline, target=excluded.target, source=excluded.source,"
            " updated=excluded.updated, status=CASE WHEN status='deleted' THEN 'pending'"
            " ELSE status END",
            (deployment, pipeline, target, json.dumps(source), now, now, "pending"),
        )
        db.execute(
            "INSERT INTO runs (id, deployment, status, created, source, plan, options,"
            " started_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                deployment,
                states.QUEUED,
                now,
                json.dumps(source),
                json.dumps(plan),
                json.dumps(options),
                started_by,
            ),
        )
        for name, stage in _plan_stages(plan):
            db.execute(
                "INSERT INTO stages (run_id, stage, kind, status) VALUES (?, ?, ?, ?)",
                (run_id, name, stage["kind"], states.PENDING),
            )
        data = {"deployment": deployment, **queued}
        self._append(db, run_id, "run.queued", None, None, data, now)
        return run_id

    def record(
        self,
        run_id: str,
        type_: str,
        stage: str | None = None,
        attempt: int | None = None,
        **data: Any,
    ) -> None:
        """Append an event and apply it to the summary rows, atomically."""
        now = float(data.pop("time", None) or time.time())
        with self._tx() as db:
            self._append(db, run_id, type_, stage, attempt, data, now)
            _apply(db, run_id, type_, stage, attempt, data, now)

    def _append(
        self,
        db: sqlite3.Connection,
        run_id: str,
        type_: str,
        stage: str | None,
        attempt: int | None,
        data: dict[str, Any],
        now: float,
    ) -> None:
        db.execute(
            "INSERT INTO events (run_id, time, type, stage, attempt, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, now, type_, stage, attempt, json.dumps(data, default=str)),
        )

    def insert_run(self, run: Run) -> None:
        """A run's row and its stages' rows as ``create_run`` makes them, and no event: the
        first step of rebuilding a store from a run's record (its events follow: ``replay``)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, deployment, status, created, source, plan, options,"
                " cancel_requested, started_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.deployment,
                    states.QUEUED,
                    run.created,
                    json.dumps(run.source),
                    json.dumps(run.plan),
                    json.dumps(run.options),
                    run.cancel_requested,
                    run.started_by,
                ),
            )
            for name, stage in _plan_stages(run.plan):
                db.execute(
                    "INSERT INTO stages (run_id, stage, kind, status) VALUES (?, ?, ?, ?)",
                    (run.id, name, stage["kind"], states.PENDING),
                )

    def replay(self, event: Event) -> None:
        """Append ``event`` with its own seq and time and fold it in, as ``record`` did."""
        data: dict[str, Any] = dict(event.data)
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (seq, run_id, time, type, stage, attempt, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.seq,
                    event.run_id,
                    event.time,
                    event.type,
                    event.stage,
                    event.attempt,
                    json.dumps(data, default=str),
                ),
            )
            _apply(db, event.run_id, event.type, event.stage, event.attempt, data, event.time)
            if event.type == "run.cancel_requested":  # what request_cancel sets beside it
                db.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (event.run_id,))

    def set_supervisor(self, deployment: str, pid: int | None, run_id: str | None = None) -> None:
        """A supervisor starts (its pid, a first heartbeat) or leaves (no pid, no heartbeat)."""
        beat = time.time() if pid is not None else None
        with self._tx() as db:
            db.execute(
                "UPDATE deployments SET supervisor_pid=?, heartbeat=?, updated=?"
                + (", current_run=?" if run_id else "")
                + " WHERE name=?",
                (pid, beat, time.time(), *((run_id,) if run_id else ()), deployment),
            )

    def heartbeat(self, deployment: str) -> None:
        self._writable()
        with state_errors.translated(self.state_dir):
            self._db.execute(
                "UPDATE deployments SET heartbeat=? WHERE name=?", (time.time(), deployment)
            )

    def request_cancel(self, run_id: str) -> None:
        """Ask the run's driver to cancel it; a run nobody started yet is cancelled at once."""
        with self._tx() as db:
            db.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
            self._append(db, run_id, "run.cancel_requested", None, None, {}, time.time())
        run = self.get_run(run_id)
        if run is not None and run.status == states.QUEUED:
            self.record(run_id, "run.cancelled", message="cancelled before it started")

    def cancel_requested(self, run_id: str) -> bool:
        row = self._db.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    def set_deployment_status(
        self, deployment: str, status: str, unless: tuple[str, ...] = ()
    ) -> None:
        """Set the status unless it is one of ``unless`` (one statement: no check-then-set)."""
        keep = ",".join("?" * len(unless))
        with self._tx() as db:
            db.execute(
                "UPDATE deployments SET status=?, updated=? WHERE name=?"
                + (f" AND status NOT IN ({keep})" if unless else ""),
                (status, time.time(), deployment, *unless),
            )

    # -- reads ---------------------------------------------------------------------------------

    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None:
        """A run by id; ``with_plan=False`` skips reading its plan (``plan`` is then ``{}``)."""
        columns = "*" if with_plan else self._no_plan
        row = self._db.execute(f"SELECT {columns} FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]:
        """Runs whose id starts with ``prefix`` (compared as text: no wildcards), newest first."""
        rows = self._db.execute(
            f"SELECT {self._no_plan} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created DESC"
            " LIMIT ?",
            (len(prefix), prefix, limit),
        ).fetchall()
        return [_run(r) for r in rows]

    def runs(
        self,
        deployment: str | None = None,
        limit: int = 50,
        with_plan: bool = True,
        status: str | None = None,
    ) -> list[Run]:
        columns = "*" if with_plan else self._no_plan
        where = [("deployment=?", deployment), ("status=?", status)]
        wanted = [(clause, value) for clause, value in where if value]
        query = f"SELECT {columns} FROM runs"
        if wanted:
            query += " WHERE " + " AND ".join(clause for clause, _ in wanted)
        query += " ORDER BY created DESC LIMIT ?"
        args = (*(value for _, value in wanted), limit)
        return [_run(r) for r in self._db.execute(query, args).fetchall()]

    def last_seq(self) -> int:
        """The newest event's sequence number: every change to a run appends an event."""
        row = self._db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def queued_runs(self, deployment: str) -> list[Run]:
        rows = self._db.execute(
            "SELECT * FROM runs WHERE deployment=? AND status=? ORDER BY created",
            (deployment, states.QUEUED),
        ).fetchall()
        return [_run(r) for r in rows]

    def stages(self, run_id: str) -> list[StageState]:
        rows = self._db.execute(
            "SELECT * FROM stages WHERE run_id=? ORDER BY rowid", (run_id,)
        ).fetchall()
        return [_stage(r) for r in rows]

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        rows = self._db.execute(
            "SELECT * FROM events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after)
        ).fetchall()
        return [
            Event(
                seq=r["seq"],
                run_id=r["run_id"],
                time=r["time"],
                type=r["type"],
                stage=r["stage"],
                attempt=r["attempt"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]

    def get_deployment(self, name: str) -> Deployment | None:
        row = self._db.execute("SELECT * FROM deployments WHERE name=?", (name,)).fetchone()
        return _deployment(row) if row else None

    def deployments(self, include_deleted: bool = False) -> list[Deployment]:
        query = "SELECT * FROM deployments"
        if not include_deleted:
            query += " WHERE status != 'deleted'"
        return [_deployment(r) for r in self._db.execute(query + " ORDER BY name").fetchall()]

    def active_runs(self) -> list[Run]:
        """Runs that are queued, running or deployed (without their plans)."""
        rows = self._db.execute(
            f"SELECT {self._no_plan} FROM runs WHERE status IN (?, ?, ?) ORDER BY created",
            (states.QUEUED, states.RUNNING, states.DEPLOYED),
        ).fetchall()
        return [_run(r) for r in rows]

    # -- schedules (the local target's; a cluster keeps its own as CronJobs) -------------------

    def put_schedule(
        self, deployment: str, cron: str, plan: dict[str, Any], options: dict[str, Any]
    ) -> Schedule:
        """Set ``deployment``'s schedule and the plan it runs; a schedule it had already
        keeps whether it is paused and when it last fired."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO schedules (deployment, cron, plan, options, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(deployment) DO UPDATE SET"
                " cron=excluded.cron, plan=excluded.plan, options=excluded.options,"
                " updated=excluded.updated",
                (deployment, cron, json.dumps(plan), json.dumps(options), now, now),
            )
        schedule = self.get_schedule(deployment)
        assert schedule is not None
        return schedule

    def get_schedule(self, deployment: str) -> Schedule | None:
        row = self._db.execute(
            "SELECT * FROM schedules WHERE deployment=?", (deployment,)
        ).fetchone()
        return _schedule(row) if row else None

    def schedules(self) -> list[Schedule]:
        rows = self._db.execute("SELECT * FROM schedules ORDER BY deployment").fetchall()
        return [_schedule(r) for r in rows]

    def pause_schedule(self, deployment: str, paused: bool) -> bool:
        """Pause or resume; False if there is no such schedule."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE schedules SET paused=?, updated=? WHERE deployment=?",
                (int(paused), time.time(), deployment),
            ).rowcount
        return bool(changed)

    def delete_schedule(self, deployment: str) -> Schedule | None:
        """Remove the schedule; what it was (None: there was none)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM schedules WHERE deployment=?", (deployment,)).fetchone()
            db.execute("DELETE FROM schedules WHERE deployment=?", (deployment,))
        return _schedule(row) if row else None

    def create_scheduled_run(
        self, deployment: str, target: str, fire: float, skipped: int
    ) -> Run | None:
        """Queue a run of the schedule's plan for fire time ``fire`` (``skipped`` earlier
        ones were missed), in one transaction with the schedule's last fire: a fire is
        acted on once, by whoever drives the deployment. None if the schedule is gone,
        paused, or has acted on this fire already."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM schedules WHERE deployment=?", (deployment,)).fetchone()
            schedule = _schedule(row) if row else None
            if schedule is None or schedule.paused or fire <= schedule.anchor:
                return None
            options = {**schedule.options, "scheduled": True, "fire": fire}
            run_id = self._insert_new_run(
                db,
                deployment,
                str(schedule.plan.get("pipeline") or deployment),
                target,
                dict(schedule.plan.get("source") or {}),
                schedule.plan,
                options,
                {"scheduled": fire, "skipped": skipped},
                by_schedule(deployment),
            )
            db.execute(
                "UPDATE schedules SET last_fire=?, last_run=?, skipped=skipped+?"
                " WHERE deployment=?",
                (fire, run_id, skipped, deployment),
            )
        return self.get_run(run_id)


def _no_plan_columns(db: sqlite3.Connection) -> str:
    """The columns of ``runs`` with an empty plan (listing runs need not parse every plan):
    those the store has, so an older one opened read-only (not upgraded) reads too."""
    have = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    return ", ".join("'{}' AS plan" if name == "plan" else name for name in have)


def _migrate(db: sqlite3.Connection) -> None:
    """Add columns that newer versions know, keeping the history of older stores."""
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, ddl in columns.items():
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


def _empty_store() -> sqlite3.Connection:
    """An empty history in memory: what a folder with no store in it holds."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.row_factory = sqlite3.Row
    db.executescript(SCHEMA)
    return db


def _schedule(row: sqlite3.Row) -> Schedule:
    data = dict(row)
    data["plan"] = json.loads(data["plan"])
    data["options"] = json.loads(data["options"])
    data["paused"] = bool(data["paused"])
    return Schedule(**data)


def _plan_stages(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = [(name, plan["stages"][name]) for name in plan["order"]]
    if plan.get("run_on_failure"):
        items.append((plan["run_on_failure"]["name"], plan["run_on_failure"]))
    return items


def _run(row: sqlite3.Row) -> Run:
    data = dict(row)
    data["source"] = json.loads(data["source"])
    data["plan"] = json.loads(data["plan"])
    data["options"] = json.loads(data.get("options") or "{}")  # a read-only store, not upgraded
    return Run(**data)


def _stage(row: sqlite3.Row) -> StageState:
    data = dict(row)
    data["ref"] = json.loads(data["ref"]) if data.get("ref") else None
    return StageState(**data)


def _deployment(row: sqlite3.Row) -> Deployment:
    data = dict(row)
    data["source"] = json.loads(data["source"])
    return Deployment(**data)


def _apply(
    db: sqlite3.Connection,
    run_id: str,
    type_: str,
    stage: str | None,
    attempt: int | None,
    data: dict[str, Any],
    now: float,
) -> None:
    """Fold one event into the summary rows (the events table stays the history)."""
    message = str(data.get("message", ""))
    run_status = states.RUN_STATUS_BY_EVENT.get(type_)
    if run_status is not None:
        finished = now if run_status in states.RUN_FINISHED else None
        db.execute(
            "UPDATE runs SET status=?, message=?, started=COALESCE(started, ?),"
            " finished=COALESCE(?, finished) WHERE id=?",
            (run_status, message, now, finished, run_id),
        )
        if run_status == states.LOST:
            db.execute(
                "UPDATE stages SET status=?, finished=COALESCE(finished, ?) WHERE run_id=?"
                " AND status IN (?, ?, ?, ?)",
                (
                    states.LOST,
                    now,
                    run_id,
                    states.RUNNING,
                    states.READY,
                    states.RESTARTING,
                    states.RETRYING,
                ),
            )
    stage_status = states.STAGE_STATUS_BY_EVENT.get(type_)
    if stage is not None and stage_status is not None:
        fields = ["status=?"]
        values: list[Any] = [stage_status]
        if type_ == "stage.starting":
            fields += ["started=COALESCE(started, ?)", "attempt=?", "finished=NULL"]
            values += [now, attempt or 1]
        if stage_status in states.STAGE_FINISHED:
            fields.append("finished=?")
            values.append(now)
        if message or stage_status in states.STAGE_FINISHED:
            fields.append("message=?")
            values.append(message)
        for key in ("url", "notebook_path"):
            if data.get(key):
                fields.append(f"{key}=?")
                values.append(data[key])
        if type_ == "stage.starting":
            fields.append("ref=?")
            values.append(json.dumps(data["ref"]) if data.get("ref") is not None else None)
        db.execute(
            f"UPDATE stages SET {', '.join(fields)} WHERE run_id=? AND stage=?",
            (*values, run_id, stage),
        )
