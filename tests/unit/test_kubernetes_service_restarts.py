"""Which pods say a service is restarting on a cluster: pure, on pods as the API sends them."""

from __future__ import annotations

from typing import Any

from bodywork_jupyter.backends.kubernetes.service_restarts import restarting


def pod(name: str, *, restarts: int, ready: bool, waiting: str | None = None,
        code: int | None = 3, deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    last = {"terminated": {"exitCode": code, "reason": "Error"}} if code is not None else {}
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    status = {"name": "stage", "restartCount": restarts, "ready": ready, "state": state,
              "lastState": last}  # fmt: skip
    return {"metadata": metadata, "status": {"containerStatuses": [status]}}


def test_a_pod_restarted_and_not_ready_again_is_restarting() -> None:
    said = restarting([pod("b", restarts=0, ready=True),
                       pod("a", restarts=2, ready=False, waiting="CrashLoopBackOff")])  # fmt: skip
    assert said == (
        "pod a exited with code 3 (Error); its Deployment restarted it 2 times (CrashLoopBackOff)"
    )


def test_ready_again_never_restarted_or_going_is_not() -> None:
    assert restarting([pod("a", restarts=1, ready=True)]) is None
    assert restarting([pod("a", restarts=0, ready=False)]) is None  # still starting
    assert restarting([pod("a", restarts=1, ready=False, deleting=True)]) is None
    assert restarting([]) is None


def test_without_a_last_state_it_says_restarted() -> None:
    assert restarting([pod("a", restarts=1, ready=False, code=None)]) == (
        "pod a restarted; its Deployment restarted it once"
    )
