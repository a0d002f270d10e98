"""The run store: deployments, runs, stage attempts and events in SQLite.

Events are the one way state changes: ``record()`` appends an event and updates
the summary rows in one transaction, so a crash mid-run leaves history whole
(WAL journal; every write is a short transaction). A run whose supervisor died
is reported as ``lost`` instead of running forever.
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

from bodywork_jupyter.engine import states

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
    options TEXT NOT NULL DEFAULT '{}'
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
"""


#: The columns of ``runs`` with an empty plan: listing runs need not parse every plan.
_NO_PLAN = (
    "id, deployment, status, created, started, finished, source, '{}' AS plan, message,"
    " cancel_requested, options"
)

#: Columns added to ``runs`` after its first release, with their definitions.
_ADDED_RUN_COLUMNS = {
    "cancel_requested": "INTEGER NOT NULL DEFAULT 0",
    "options": "TEXT NOT NULL DEFAULT '{}'",
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
    status: str
    created: float
    started: float | None
    finished: float | None
    source: dict[str, Any]
    plan: dict[str, Any]
    message: str
    cancel_requested: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageState:
    run_id: str
    stage: str
    kind: str
    status: str
    attempt: int
    started: float | None
    finished: float | None
    message: str
    url: str | None
    log_path: str | None
    notebook_path: str | None


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
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / "runs.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Add columns that newer versions know, keeping the history of older stores."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column, ddl in _ADDED_RUN_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {ddl}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- folders -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        path = self.state_dir / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cache_dir(self) -> Path:
        path = self.state_dir / "cache"
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
    ) -> Run:
        now = time.time()
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + uuid.uuid4().hex[:6]
        with self._tx() as db:
            db.execute(
                "INSERT INTO deployments (name, pipeline, target, source, created, updated, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                " pipeline=excluded.pipeline, target=excluded.target, source=excluded.source,"
                " updated=excluded.updated, status=CASE WHEN status='deleted' THEN 'pending'"
                " ELSE status END",
                (deployment, pipeline, target, json.dumps(source), now, now, "pending"),
            )
            db.execute(
                "INSERT INTO runs (id, deployment, status, created, source, plan, options)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    deployment,
                    states.QUEUED,
                    now,
                    json.dumps(source),
                    json.dumps(plan),
                    json.dumps(options or {}),
                ),
            )
            for name, stage in _plan_stages(plan):
                db.execute(
                    "INSERT INTO stages (run_id, stage, kind, status) VALUES (?, ?, ?, ?)",
                    (run_id, name, stage["kind"], states.PENDING),
                )
            self._append(db, run_id, "run.queued", None, None, {"deployment": deployment}, now)
        run = self.get_run(run_id)
        assert run is not None
        return run

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

    def set_supervisor(self, deployment: str, pid: int | None, run_id: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deployments SET supervisor_pid=?, heartbeat=?, updated=?"
                + (", current_run=?" if run_id else "")
                + " WHERE name=?",
                (pid, time.time(), time.time(), *((run_id,) if run_id else ()), deployment),
            )

    def heartbeat(self, deployment: str) -> None:
        self._db.execute(
            "UPDATE deployments SET heartbeat=? WHERE name=?", (time.time(), deployment)
        )

    def request_cancel(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
            self._append(db, run_id, "run.cancel_requested", None, None, {}, time.time())
        run = self.get_run(run_id)
        if run is not None and run.status == states.QUEUED:
            self.record(run_id, "run.cancelled", message="cancelled before it started")

    def cancel_requested(self, run_id: str) -> bool:
        row = self._db.execute("SELECT cancel_requested FROM runs WHERE id=?", (run_id,)).fetchone()
        return bool(row and row[0])

    def set_deployment_status(self, deployment: str, status: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deployments SET status=?, updated=? WHERE name=?",
                (status, time.time(), deployment),
            )

    # -- reads ---------------------------------------------------------------------------------

    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None:
        """A run by id; ``with_plan=False`` skips reading its plan (``plan`` is then ``{}``)."""
        columns = "*" if with_plan else _NO_PLAN
        row = self._db.execute(f"SELECT {columns} FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def find_run(self, prefix: str) -> Run | None:
        """A run by id or unique id prefix."""
        rows = self._db.execute(
            "SELECT * FROM runs WHERE id LIKE ? ORDER BY created DESC LIMIT 2", (prefix + "%",)
        ).fetchall()
        exact = [r for r in rows if r["id"] == prefix]
        if exact or len(rows) == 1:
            return _run((exact or rows)[0])
        return None

    def runs(
        self, deployment: str | None = None, limit: int = 50, with_plan: bool = True
    ) -> list[Run]:
        columns = "*" if with_plan else _NO_PLAN
        query = f"SELECT {columns} FROM runs" + (" WHERE deployment=?" if deployment else "")
        query += " ORDER BY created DESC LIMIT ?"
        args: tuple[Any, ...] = (deployment, limit) if deployment else (limit,)
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
        return [StageState(**dict(r)) for r in rows]

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

    # -- liveness --------------------------------------------------------------------------------

    def mark_lost_runs(self) -> None:
        """Runs whose supervisor is gone are 'lost', not running forever."""
        rows = self._db.execute(
            "SELECT r.id, r.deployment, d.supervisor_pid FROM runs r JOIN deployments d"
            " ON d.name = r.deployment WHERE r.status IN (?, ?, ?)",
            (states.RUNNING, states.QUEUED, states.DEPLOYED),
        ).fetchall()
        for row in rows:
            pid = row["supervisor_pid"]
            run = self.get_run(row["id"])
            if run is None or (run.status == states.QUEUED and time.time() - run.created < 30):
                continue
            if pid is None or not pid_alive(pid):
                self.record(
                    row["id"],
                    "run.lost",
                    message="the supervisor process died (was it killed?) - deploy again",
                )
                self.set_deployment_status(row["deployment"], states.LOST)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0): check its state
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _plan_stages(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = [(name, plan["stages"][name]) for name in plan["order"]]
    if plan.get("run_on_failure"):
        items.append((plan["run_on_failure"]["name"], plan["run_on_failure"]))
    return items


def _run(row: sqlite3.Row) -> Run:
    data = dict(row)
    data["source"] = json.loads(data["source"])
    data["plan"] = json.loads(data["plan"])
    data["options"] = json.loads(data["options"])
    return Run(**data)


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
                " AND status IN (?, ?, ?)",
                (states.LOST, now, run_id, states.RUNNING, states.READY, states.RETRYING),
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
        for key in ("url", "log_path", "notebook_path"):
            if data.get(key):
                fields.append(f"{key}=?")
                values.append(data[key])
        db.execute(
            f"UPDATE stages SET {', '.join(fields)} WHERE run_id=? AND stage=?",
            (*values, run_id, stage),
        )
