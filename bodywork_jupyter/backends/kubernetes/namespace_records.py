"""The run records of one namespace as the Kubernetes target reads them: kept a moment."""

from __future__ import annotations

import time
from typing import Any

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.engine.store import Event

#: Reads are kept this long: a follow loop that asks five times a second reaches the API
#: server at most once a second.
READ_SECONDS = 1.0


class NamespaceRecords(ClusterRecords):
    """The records of one namespace, with reads kept ``ttl`` seconds and plans for good
    (a plan never changes)."""

    def __init__(self, cluster: Cluster, namespace: str, ttl: float = READ_SECONDS) -> None:
        super().__init__(cluster, namespace)
        self.ttl = ttl
        self._kept_summaries: dict[str, tuple[float, Any]] = {}
        self._events: dict[str, tuple[float, list[Event]]] = {}
        self._plans: dict[str, dict[str, Any]] = {}

    def forget(self, run_id: str) -> None:
        self._kept_summaries.pop(run_id, None)
        self._events.pop(run_id, None)

    def forget_all(self) -> None:
        self._kept_summaries.clear()
        self._events.clear()

    def _summary(self, run_id: str) -> Any | None:
        now = time.monotonic()
        kept = self._kept_summaries.get(run_id)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        summary = super()._summary(run_id)
        if len(self._kept_summaries) > 1000:
            self._kept_summaries.clear()
        self._kept_summaries[run_id] = (now, summary)
        return summary

    def _plan(self, run_id: str) -> dict[str, Any]:
        plan = self._plans.get(run_id)
        if plan is None:
            plan = super()._plan(run_id)
            if plan:
                if len(self._plans) > 200:
                    self._plans.clear()
                self._plans[run_id] = plan
        return plan

    def plan(self, run_id: str) -> dict[str, Any]:
        return self._plan(run_id)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        now = time.monotonic()
        kept = self._events.get(run_id)
        if kept is None or now - kept[0] >= self.ttl:
            kept = (now, super().events(run_id, 0))
            if len(self._events) > 1000:
                self._events.clear()
            self._events[run_id] = kept
        return [event for event in kept[1] if event.seq > after]
