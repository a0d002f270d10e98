"""The writer's local side: a working run store a cluster record can be replayed into, and
the changes a deployment's record goes through.

``WorkingStore`` is a ``RunStore`` that can also take a run as its record says it was: the
run's row as ``create_run`` made it, then every event with its own sequence number and
time, folded into the summary rows by the store's own fold (``_apply``). So a restored
store holds what the store that wrote the events held, and numbers its next event after
the last one restored.

A deployment's record is changed by several writers (``bodywork deploy`` records a new
run, the controller its status): each change is a function of the record as it is, so it
can be applied again to a record someone else changed in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment, Event, Run, RunStore, _apply, _plan_stages

#: One change to a deployment's record (None: there is no record, and nothing to change).
DeploymentChange = Callable[[Deployment | None], Deployment | None]


class WorkingStore(RunStore):
    """A run store that can also take a run back from its record."""

    def insert_run(self, run: Run) -> None:
        """The run's row and its stages' rows as ``create_run`` makes them (no event)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, deployment, status, created, source, plan, options,"
                " cancel_requested) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.deployment,
                    states.QUEUED,
                    run.created,
                    json.dumps(run.source),
                    json.dumps(run.plan),
                    json.dumps(run.options),
                    run.cancel_requested,
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


# -- a deployment's changes: what RunStore does to its deployments row ----------------------


def upserted(
    name: str, pipeline: str, target: str, source: dict[str, Any], now: float
) -> DeploymentChange:
    """A run was created for the deployment (``RunStore.create_run``'s upsert)."""

    def change(current: Deployment | None) -> Deployment:
        if current is None:
            return Deployment(
                name, pipeline, target, source, now, now, states.PENDING, None, None, None
            )
        status = states.PENDING if current.status == states.DELETED else current.status
        return replace(
            current, pipeline=pipeline, target=target, source=source, updated=now, status=status
        )

    return change


def status_set(status: str, unless: tuple[str, ...], now: float) -> DeploymentChange:
    """``RunStore.set_deployment_status``: unless the status is one of ``unless``."""

    def change(current: Deployment | None) -> Deployment | None:
        if current is None or current.status in unless:
            return current
        return replace(current, status=status, updated=now)

    return change


def current_run_set(run_id: str, now: float) -> DeploymentChange:
    """The run that now drives the deployment (``RunStore.set_supervisor``'s run)."""

    def change(current: Deployment | None) -> Deployment | None:
        return None if current is None else replace(current, current_run=run_id, updated=now)

    return change


def changed(base: Deployment | None, changes: list[DeploymentChange]) -> Deployment | None:
    for change in changes:
        base = change(base)
    return base
