"""Reading a stage pod's status: why it cannot run, how its container ended.

Pods are read as the API server sends them (plain dicts, camelCase keys), the way the
watch streams deliver them. A *problem* is a state that will not get better on its own,
which the backend turns into a failed attempt at once, with the reason in the message,
instead of letting it run into a timeout:

- the scheduler found no node (``PodScheduled=False``, reason ``Unschedulable``);
- a container cannot be created or its image fetched (``CreateContainerConfigError``,
  e.g. a missing Secret; ``ErrImagePull``, ``ImagePullBackOff``, ``InvalidImageName``);
- a container was killed for its memory (``OOMKilled``);
- a service's container keeps crashing (``CrashLoopBackOff``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Pod = Mapping[str, Any]

#: Waiting reasons that fail an attempt, with the failure reason the engine records.
WAITING_PROBLEMS: Mapping[str, str] = {
    "CreateContainerConfigError": "bad_input",  # a missing Secret or ConfigMap key
    "CreateContainerError": "bad_input",
    "InvalidImageName": "bad_input",
    "ErrImagePull": "error",  # the registry may be down: a retry can help
    "ImagePullBackOff": "error",
    "ErrImageNeverPull": "bad_input",  # imagePullPolicy Never and the node lacks it
}
#: Only a service's pods restart (a Job's restartPolicy is Never).
SERVICE_WAITING_PROBLEMS: Mapping[str, str] = {"CrashLoopBackOff": "error"}

_IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_WHAT = {
    "CreateContainerConfigError": "cannot be created",
    "CreateContainerError": "cannot be created",
    "InvalidImageName": "has an invalid image name",
    "ErrImagePull": "cannot pull its image",
    "ImagePullBackOff": "cannot pull its image",
    "ErrImageNeverPull": "cannot pull its image",
    "CrashLoopBackOff": "keeps crashing",
}


@dataclass(frozen=True)
class PodProblem:
    """Why an attempt's pod will not run (or not for long)."""

    pod: str
    k8s_reason: str  # Unschedulable, CreateContainerConfigError, OOMKilled, ...
    reason: str  # the engine's FailureReason
    message: str
    exit_code: int | None = None
    #: the pod waits for ever (not scheduled, a container never created); False: it ended
    stuck: bool = True

    def details(self) -> dict[str, Any]:
        return {"pod": self.pod, "k8s_reason": self.k8s_reason}


def name(pod: Pod) -> str:
    return str(pod.get("metadata", {}).get("name", "?"))


def deleting(pod: Pod) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def container_statuses(pod: Pod) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def problem(pod: Pod, *, service: bool) -> PodProblem | None:
    """The first problem of ``pod`` that will not go away by waiting, else None."""
    if deleting(pod):
        return None  # going anyway: whoever deletes it knows why
    pod_name = name(pod)
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            said = condition.get("message") or "no node fits it"
            return PodProblem(
                pod_name,
                "Unschedulable",
                "error",
                f"pod {pod_name} cannot be scheduled (Unschedulable): {said} - ask for fewer "
                "resources, or add nodes that have them",
            )
    waiting_problems = {**WAITING_PROBLEMS, **(SERVICE_WAITING_PROBLEMS if service else {})}
    for status in container_statuses(pod):
        container = status.get("name", "?")
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason in waiting_problems:
            said = waiting.get("message") or ""
            what = f"container {container} of pod {pod_name} {_WHAT.get(reason, 'cannot run')}"
            extra = ""
            if reason in _IMAGE_REASONS:
                extra = f" (image {status.get('image', '?')})"
            last = (status.get("lastState") or {}).get("terminated") or {}
            if reason == "CrashLoopBackOff" and last:
                extra = f" (last exit code {last.get('exitCode')}, {last.get('reason')})"
            return PodProblem(
                pod_name,
                str(reason),
                waiting_problems[str(reason)],
                f"{what}{extra} ({reason})" + (f": {said}" if said else ""),
                exit_code=last.get("exitCode") if reason == "CrashLoopBackOff" else None,
            )
        last_state = (status.get("lastState") or {}).get("terminated")
        for terminated in (state.get("terminated"), last_state):
            if terminated and terminated.get("reason") == "OOMKilled":
                return PodProblem(
                    pod_name,
                    "OOMKilled",
                    "exit",
                    f"container {container} of pod {pod_name} was killed for using more memory "
                    "than its limit (OOMKilled) - raise the stage's memory_limit_mb",
                    exit_code=terminated.get("exitCode"),
                    stuck=False,  # it ended (a service's restarts: the engine stops it)
                )
    return None


def first(pods: Iterable[Pod]) -> Pod | None:
    """The attempt's first pod: the oldest (then by name)."""
    ordered = sorted(
        pods,
        key=lambda p: (str(p.get("metadata", {}).get("creationTimestamp", "")), name(p)),
    )
    return ordered[0] if ordered else None


def started(pod: Pod, container: str) -> bool:
    """``container`` of ``pod`` has started (it runs, or ran): its log can be read."""
    for status in container_statuses(pod):
        if status.get("name") == container:
            state = status.get("state") or {}
            return bool(state.get("running") or state.get("terminated"))
    return False


def terminated(pods: Iterable[Pod], container: str) -> Mapping[str, Any] | None:
    """How ``container`` ended in the newest of ``pods`` that has it terminated."""
    found: Mapping[str, Any] | None = None
    for pod in sorted(pods, key=lambda p: str(p.get("metadata", {}).get("creationTimestamp", ""))):
        for status in container_statuses(pod):
            if status.get("name") == container:
                ended = (status.get("state") or {}).get("terminated")
                if ended:
                    found = ended
    return found
