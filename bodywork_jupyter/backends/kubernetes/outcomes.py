"""How an attempt ended, read from its Job's conditions or its Deployment's status.

Pure functions of the objects as the API server sends them (plain dicts): a Job ends on
a ``Complete`` or ``Failed`` condition (never on pod counters); a Deployment is ready once
it observed its generation and every replica is updated and available, and it failed on
``ProgressDeadlineExceeded`` (or a ``ReplicaFailure``: its pods cannot even be created).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bodywork_jupyter.backends.kubernetes.pods import PodProblem
from bodywork_jupyter.engine.backend import Outcome
from bodywork_runner.events import FAILURE_REASONS

Obj = Mapping[str, Any]


def job_ended(job: Obj) -> Obj | None:
    """The Job's ``Complete`` or ``Failed`` condition, once one of them is True."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            found: Obj = condition
            return found
    return None


def job_outcome(job: Obj, ended: Obj, container: Obj | None, runner_failed: Obj | None) -> Outcome:
    """The outcome of a Job that ``ended``; ``container`` is how its container terminated,
    ``runner_failed`` the runner's own ``stage.failed`` event (from the log), if seen."""
    code = (container or {}).get("exitCode")
    exit_code = None if code is None else int(code)
    if ended.get("type") == "Complete":
        return Outcome(True, exit_code=0 if exit_code is None else exit_code)
    if ended.get("reason") == "DeadlineExceeded":
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return Outcome(
            False,
            "timeout",
            f"did not finish within its timeout: its Job's deadline "
            f"(activeDeadlineSeconds {deadline}) passed (DeadlineExceeded)",
            exit_code=exit_code,
            details={"k8s_reason": "DeadlineExceeded"},
        )
    if runner_failed:  # the runner said why: the same words as on every target
        reason = str(runner_failed.get("reason") or "exit")
        details = {k: runner_failed[k] for k in ("cell", "ename", "evalue") if k in runner_failed}
        return Outcome(
            False,
            reason if reason in FAILURE_REASONS else "exit",
            str(runner_failed.get("message") or f"the runner exited with code {code}"),
            exit_code=exit_code,
            details=details,
        )
    if exit_code is None:
        message = f"its Job failed ({ended.get('reason')}): {ended.get('message') or ''}"
    else:
        why = (container or {}).get("reason") or ended.get("reason")
        message = f"the stage's container exited with code {exit_code} ({why})"
    return Outcome(False, "exit", message, exit_code=exit_code)


def rolled_out(deployment: Obj, url: str | None) -> Outcome | None:
    """Ready (every replica updated and available), failed, or None: not yet."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    for condition in status.get("conditions") or []:
        said = condition.get("message") or ""
        if condition.get("reason") == "ProgressDeadlineExceeded":
            return Outcome(
                False,
                "timeout",
                f"not ready in time (ProgressDeadlineExceeded): {said}",
                details={"k8s_reason": "ProgressDeadlineExceeded"},
            )
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Outcome(
                False,
                "error",
                f"its pods cannot be created ({condition.get('reason')}): {said}",
                details={"k8s_reason": "ReplicaFailure"},
            )
    wanted = int(spec.get("replicas", 1))
    observed = int(status.get("observedGeneration") or 0)
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    if (
        observed >= generation
        and int(status.get("updatedReplicas") or 0) == wanted
        and int(status.get("availableReplicas") or 0) == wanted
    ):
        return Outcome(True, url=url)
    return None


def pod_outcome(problem: PodProblem, runner_failed: Obj | None = None) -> Outcome:
    """A pod's problem as an outcome; what the runner said, when it said something
    (a service crashing in a loop: the error of its notebook)."""
    message = problem.message
    if runner_failed and runner_failed.get("message"):
        message += f" - the runner said: {runner_failed['message']}"
    return Outcome(
        False,
        problem.reason,
        message,
        exit_code=problem.exit_code,
        details=problem.details(),
    )
