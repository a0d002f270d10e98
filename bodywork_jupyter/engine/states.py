"""Run and stage states, and which event moves a run or stage into which state."""

from __future__ import annotations

# runs
QUEUED = "queued"
RUNNING = "running"
DEPLOYED = "deployed"  # batch stages done, services ready and serving
SUCCEEDED = "succeeded"  # batch stages done, nothing left running
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"  # its supervisor died
STOPPED = "stopped"  # a deployed run whose services were stopped (deleted or replaced)

# stages (also RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST, STOPPED)
PENDING = "pending"
RETRYING = "retrying"
READY = "ready"  # a service that is serving
SKIPPED = "skipped"  # never started: the run failed or was cancelled first

RUN_FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, LOST, STOPPED})
STAGE_FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, SKIPPED, LOST, STOPPED})
ACTIVE_RUN = frozenset({QUEUED, RUNNING, DEPLOYED})

RUN_STATUS_BY_EVENT = {
    "run.started": RUNNING,
    "run.deployed": DEPLOYED,
    "run.succeeded": SUCCEEDED,
    "run.failed": FAILED,
    "run.cancelled": CANCELLED,
    "run.lost": LOST,
    "run.stopped": STOPPED,
}

STAGE_STATUS_BY_EVENT = {
    "stage.starting": RUNNING,
    "stage.retrying": RETRYING,
    "stage.succeeded": SUCCEEDED,
    "stage.failed": FAILED,
    "stage.ready": READY,
    "stage.cancelled": CANCELLED,
    "stage.skipped": SKIPPED,
    "stage.stopped": STOPPED,
}
