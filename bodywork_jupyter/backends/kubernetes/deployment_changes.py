"""The changes a deployment's cluster record goes through.

(A run's record is replayed into a working ``RunStore`` with ``insert_run`` and
``replay``: the store's own fold, so a restored store holds what the writer's held.)

A deployment's record is changed by several writers (``bodywork deploy`` records a new
run, the controller its status): each change is a function of the record as it is, so it
can be applied again to a record someone else changed in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment

#: One change to a deployment's record (None: there is no record, and nothing to change).
DeploymentChange = Callable[[Deployment | None], Deployment | None]


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
