"""Run and stage states, and which event moves a run or stage into which state.

These names are the one vocabulary every surface (CLI, Python API, magics, REST)
shows: the ``Literal`` types below are what the read service returns.
"""

from __future__ import annotations

from typing import Final, Literal

RunStatus = Literal[
    "queued", "running", "deployed", "succeeded", "failed", "cancelled", "lost", "stopped"
]
StageStatus = Literal[
    "pending",
    "running",
    "retrying",
    "ready",
    "restarting",
    "succeeded",
    "failed",
    "cancelled",
    "skipped",
    "lost",
    "stopped",
]
#: A deployment as people see it: what its current run is doing, or that it is gone.
DeploymentStatus = Literal[
    "pending",
    "running",
    "serving",
    "failing",
    "succeeded",
    "failed",
    "cancelled",
    "lost",
    "stopped",
    "deleting",
    "deleted",
]

# runs
QUEUED: Final = "queued"
RUNNING: Final = "running"
DEPLOYED: Final = "deployed"  # batch stages done, services ready and serving
SUCCEEDED: Final = "succeeded"  # batch stages done, nothing left running
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
LOST: Final = "lost"  # nobody drives it any more (locally: its supervisor's heartbeat stopped)
STOPPED: Final = "stopped"  # a deployed run whose services were stopped (deleted or replaced)

# stages (also RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST, STOPPED)
PENDING: Final = "pending"
RETRYING: Final = "retrying"
READY: Final = "ready"  # a service that is serving
RESTARTING: Final = "restarting"  # a ready service with a replica that died: restarting it
SKIPPED: Final = "skipped"  # never started: the run failed or was cancelled first

# deployments (besides the run statuses)
SERVING: Final = "serving"
FAILING: Final = "failing"  # serving, but a replica of a service died and is restarting
DELETING: Final = "deleting"
DELETED: Final = "deleted"

RUN_FINISHED: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, LOST, STOPPED})
STAGE_FINISHED: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, SKIPPED, LOST, STOPPED})
ACTIVE_RUN: frozenset[str] = frozenset({QUEUED, RUNNING, DEPLOYED})


def settled(status: str) -> bool:
    """Whether a run has nothing more to do: finished, or deployed with every service ready.

    The one answer to "has it settled?": every surface that waits for a run asks this.
    """
    return status in RUN_FINISHED or status == DEPLOYED


def finished(status: str) -> bool:
    """Whether a run is over (a deployed run is not: its services still serve)."""
    return status in RUN_FINISHED


RUN_STATUS_BY_EVENT: dict[str, RunStatus] = {
    "run.started": RUNNING,
    "run.deployed": DEPLOYED,
    "run.succeeded": SUCCEEDED,
    "run.failed": FAILED,
    "run.cancelled": CANCELLED,
    "run.lost": LOST,
    "run.stopped": STOPPED,
}

STAGE_STATUS_BY_EVENT: dict[str, StageStatus] = {
    "stage.starting": RUNNING,
    "stage.retrying": RETRYING,
    "stage.succeeded": SUCCEEDED,
    "stage.failed": FAILED,
    "stage.ready": READY,
    "stage.cancelled": CANCELLED,
    "stage.skipped": SKIPPED,
    "stage.stopped": STOPPED,
    # a ready service's replica died and is restarted (engine/replicas.py)
    "service.exited": RESTARTING,
    "service.recovered": READY,
}
