"""Reading run records from the cluster: a Target's raw reads, from labelled ConfigMaps.

``ClusterRecords(cluster, namespace)`` answers each question with one call where it can
(a get of a run's summary, a list with a label selector), needs only ``get`` and ``list``
on ConfigMaps, and returns the run store's own record types (``Run``, ``StageState``,
``Event``, ``Deployment``). Listing runs reads the summaries only, never the event chunks
or the plans (unless asked for the plans). ``request_cancel`` is its one write: the cancel
flag, an annotation on the run's summary that the run's controller watches for.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import NotFoundError

#: The field manager of the cancel flag: not the writers' own, so their server-side
#: applies (which own every other field of the summary) leave the flag alone.
CANCEL_FIELD_MANAGER = "bodywork-jupyter-cancel"


class ClusterRecords:
    """The run records of one namespace, as the local store would return them."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    # -- runs -------------------------------------------------------------------------------

    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None:
        summary = self._summary(run_id)
        if summary is None:
            return None
        plan = self._plan(run_id) if with_plan else None
        return _run(summary, plan)

    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]:
        """Runs whose id starts with ``prefix`` (as text), newest first."""
        found = [r for r in self._summaries(None) if r.id.startswith(prefix)]
        return _newest(found, limit)

    def runs(
        self,
        deployment: str | None = None,
        limit: int = 50,
        with_plan: bool = False,
        status: str | None = None,
    ) -> list[Run]:
        summaries = self._summaries(deployment)
        if status is not None:
            summaries = [r for r in summaries if r.status == status]
        found = _newest(summaries, limit)
        if not with_plan or not found:
            return found
        plans = {}
        for obj in rec.listed(
            self.cluster, self.namespace, rec.selector(rec.PLAN, deployment=deployment)
        ):
            run_id = rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID)
            if run_id is not None and rec.KEY_PLAN in rec.data_of(obj):
                plans[run_id] = json.loads(rec.data_of(obj)[rec.KEY_PLAN])
        return [_with_plan(run, plans.get(run.id, {})) for run in found]

    def stages(self, run_id: str) -> list[StageState]:
        summary = self._summary(run_id)
        if summary is None:
            return []
        return rec.parse_stages(rec.data_of(summary).get(rec.KEY_STAGES, "[]"), run_id)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        chunks = [
            obj
            for obj in rec.listed(
                self.cluster, self.namespace, rec.selector(rec.EVENTS, run_id=run_id)
            )
            if rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID) == run_id
        ]
        events: list[Event] = []
        for obj in sorted(chunks, key=rec.chunk_number):
            events += rec.parse_events(rec.data_of(obj).get(rec.KEY_EVENTS, ""), run_id)
        return [e for e in events if e.seq > after]

    def last_seq(self) -> int:
        """The events of every run, plus every deployment's revision, plus the cancel flags:
        a sum that grows with every change the records see (one list call)."""
        total = 0
        label_selector = f"{rec.LABEL_RECORD} in ({rec.RUN},{rec.DEPLOYMENT})"
        for obj in rec.listed(self.cluster, self.namespace, label_selector):
            notes = rec.notes_of(obj)
            total += int(notes.get(rec.ANNOTATION_EVENTS, "0"))
            total += int(notes.get(rec.ANNOTATION_REVISION, "0"))
            total += int(rec.ANNOTATION_CANCEL in notes)
        return total

    # -- deployments --------------------------------------------------------------------------

    def get_deployment(self, name: str) -> Deployment | None:
        obj = rec.read(self.cluster, self.namespace, rec.deployment_record_name(name))
        text = rec.data_of(obj).get(rec.KEY_DEPLOYMENT) if obj is not None else None
        if text is None:
            return None
        deployment = rec.parse_deployment(text)
        return deployment if deployment.name == name else None

    def deployments(self, include_deleted: bool = False) -> list[Deployment]:
        found = []
        for obj in rec.listed(self.cluster, self.namespace, rec.selector(rec.DEPLOYMENT)):
            text = rec.data_of(obj).get(rec.KEY_DEPLOYMENT)
            if text is not None:
                deployment = rec.parse_deployment(text)
                if include_deleted or deployment.status != "deleted":
                    found.append(deployment)
        return sorted(found, key=lambda d: d.name)

    # -- the one write ------------------------------------------------------------------------

    def request_cancel(self, run_id: str) -> None:
        """Set the run's cancel flag (its controller cancels it, and records that)."""
        patch = {"metadata": {"annotations": {rec.ANNOTATION_CANCEL: repr(time.time())}}}
        try:
            self.cluster.call(
                self.cluster.core.patch_namespaced_config_map,
                rec.run_record_name(run_id),
                self.namespace,
                patch,
                field_manager=CANCEL_FIELD_MANAGER,
            )
        except NotFoundError:
            raise NotFoundError(f"no run '{run_id}' in namespace {self.namespace}") from None

    # -- helpers ------------------------------------------------------------------------------

    def _summary(self, run_id: str) -> Any | None:
        obj = rec.read(self.cluster, self.namespace, rec.run_record_name(run_id))
        if obj is None or rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID) != run_id:
            return None
        return obj if rec.KEY_RUN in rec.data_of(obj) else None

    def _plan(self, run_id: str) -> dict[str, Any]:
        obj = rec.read(self.cluster, self.namespace, rec.plan_record_name(run_id))
        text = rec.data_of(obj).get(rec.KEY_PLAN) if obj is not None else None
        plan: dict[str, Any] = json.loads(text) if text else {}
        return plan

    def _summaries(self, deployment: str | None) -> list[Run]:
        label_selector = rec.selector(rec.RUN, deployment=deployment)
        found = []
        for obj in rec.listed(self.cluster, self.namespace, label_selector):
            if rec.KEY_RUN in rec.data_of(obj):
                run = _run(obj, None)
                if deployment is None or run.deployment == deployment:
                    found.append(run)
        return found


def _run(summary: Any, plan: dict[str, Any] | None) -> Run:
    data = json.loads(rec.data_of(summary)[rec.KEY_RUN])
    return rec.parse_run(data, plan, cancel_flag=rec.cancel_flag(summary))


def _with_plan(run: Run, plan: dict[str, Any]) -> Run:
    return replace(run, plan=plan)


def _newest(runs: list[Run], limit: int) -> list[Run]:
    return sorted(runs, key=lambda r: r.created, reverse=True)[:limit]
