"""Putting a writer's queued records into the cluster: event chunks, summaries, plans and
deployments, each write idempotent and guarded.

The newest event chunk is written with its resourceVersion (server-side apply with a
precondition); a new chunk is created, never applied over; a chunk that is full is never
written again. A write whose answer was lost is recognised when it is retried: the
cluster holds what was meant. A chunk holding something else means another writer
extended the run (``RecordConflictError``). A summary is derived, so it is applied as it
is. A deployment's record is changed by applying the queued changes to the record as the
cluster holds it, again after a conflict.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from bodywork_jupyter.backends.kubernetes import deployment_changes as changes
from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import FIELD_MANAGER, Cluster
from bodywork_jupyter.engine.store import Deployment, RunStore
from bodywork_jupyter.errors import NotFoundError

log = logging.getLogger(__name__)

#: Attempts at changing a deployment's record that other writers keep changing.
DEPLOYMENT_TRIES = 5

#: run.json, stages.json, and the number of events they account for
Summary = tuple[str, str, int]


@dataclass
class Chunk:
    number: int
    lines: list[str] = field(default_factory=list)
    size: int = 0
    resource_version: str | None = None  # None: not in the cluster yet


@dataclass
class RunRecord:
    """A run a writer holds: its working store, and what is still to be written."""

    run_id: str
    deployment: str
    store: RunStore
    chunk: Chunk
    collected: int = 0  # the last event seq queued
    pending: list[str] = field(default_factory=list)  # event lines not in the cluster yet
    summary: Summary | None = None  # as the store has it now
    summary_written: Summary | None = None
    plan_doc: str | None = None  # until written

    def stale(self) -> bool:
        return bool(self.pending or self.plan_doc) or self.summary != self.summary_written


@dataclass
class DeploymentRecord:
    name: str
    base: Deployment | None  # as the cluster holds it
    resource_version: str | None
    revision: int
    changes: list[changes.DeploymentChange] = field(default_factory=list)


class Pusher:
    """Writes queued records; ``lock`` guards the queues it empties as it goes."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        lock: threading.Lock,
        chunk_events: int = rec.CHUNK_EVENTS,
        chunk_bytes: int = rec.CHUNK_BYTES,
    ) -> None:
        if chunk_events < 1 or chunk_bytes < rec.EVENT_BYTES + 1024:
            raise ValueError("a chunk must hold at least one event of the largest size")
        self.cluster = cluster
        self.namespace = namespace
        self.lock = lock
        self.chunk_events = chunk_events
        self.chunk_bytes = chunk_bytes

    # -- runs ---------------------------------------------------------------------------------

    def push_run(self, state: RunRecord, lines: list[str], summary: Summary | None) -> None:
        """The plan (once), then ``lines`` into chunks, then the summary that follows them."""
        if state.plan_doc is not None:
            plan = self._object(state, rec.PLAN, rec.plan_record_name(state.run_id))
            plan["data"] = {rec.KEY_PLAN: state.plan_doc}
            if self.create(plan) is None:  # there already: a write whose answer was lost
                log.debug("the plan of run %s was there already", state.run_id)
            state.plan_doc = None
        done = 0
        while done < len(lines):
            chunk = state.chunk
            size, take = chunk.size, list[str]()
            for line in lines[done:]:
                if len(chunk.lines) + len(take) >= self.chunk_events:
                    break
                if size + len(line) + 1 > self.chunk_bytes:
                    break
                take.append(line)
                size += len(line) + 1
            if not take:  # full: it is never written again
                state.chunk = Chunk(chunk.number + 1)
                continue
            written = chunk.lines + take
            version = self._write_chunk(state, chunk, written)
            state.chunk = Chunk(chunk.number, written, size, version)
            done += len(take)
            with self.lock:
                del state.pending[: len(take)]
        if summary is not None and summary != state.summary_written:
            run_doc, stages_doc, seq = summary
            obj = self._object(state, rec.RUN, rec.run_record_name(state.run_id))
            obj["metadata"]["annotations"][rec.ANNOTATION_EVENTS] = str(seq)
            obj["data"] = {rec.KEY_RUN: run_doc, rec.KEY_STAGES: stages_doc}
            self.cluster.apply(obj)
            state.summary_written = summary

    def load_run(self, run_id: str, store: RunStore) -> RunRecord:
        """The run as its record says, replayed into ``store`` (a fresh one)."""
        summary = self.summary(run_id)
        if summary is None:
            raise NotFoundError(f"no run '{run_id}' in namespace {self.namespace}")
        plan_obj = rec.read(self.cluster, self.namespace, rec.plan_record_name(run_id))
        plan_text = rec.data_of(plan_obj).get(rec.KEY_PLAN) if plan_obj is not None else None
        if plan_text is None:
            raise NotFoundError(f"the record of run '{run_id}' has no plan")
        stored, notes = rec.data_of(summary), rec.notes_of(summary)
        row = rec.parse_run(json.loads(stored[rec.KEY_RUN]), json.loads(plan_text))
        label_selector = rec.selector(rec.EVENTS, run_id=run_id)
        chunks = sorted(
            (
                obj
                for obj in rec.listed(self.cluster, self.namespace, label_selector)
                if rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID) == run_id
            ),
            key=rec.chunk_number,
        )
        store.insert_run(row)
        seq = 0
        for obj in chunks:
            for event in rec.parse_events(rec.data_of(obj).get(rec.KEY_EVENTS, ""), run_id):
                if event.seq <= seq:
                    raise rec.RecordConflictError(
                        f"the events of run '{run_id}' are out of order at {event.seq}"
                    )
                store.replay(event)
                seq = event.seq
        chunk = Chunk(0)
        if chunks:
            last = chunks[-1]
            lines = [
                line for line in rec.data_of(last).get(rec.KEY_EVENTS, "").splitlines() if line
            ]
            size = sum(len(line) + 1 for line in lines)
            chunk = Chunk(rec.chunk_number(last), lines, size, last.metadata.resource_version)
        state = RunRecord(run_id, row.deployment, store, chunk, collected=seq)
        written = int(notes.get(rec.ANNOTATION_EVENTS, "0"))
        state.summary_written = (stored[rec.KEY_RUN], stored.get(rec.KEY_STAGES, ""), written)
        return state

    def summary(self, run_id: str) -> Any | None:
        """The run's summary ConfigMap, if it has one."""
        obj = rec.read(self.cluster, self.namespace, rec.run_record_name(run_id))
        if obj is None or rec.notes_of(obj).get(rec.ANNOTATION_RUN_ID) != run_id:
            return None
        return obj if rec.KEY_RUN in rec.data_of(obj) else None

    def _write_chunk(self, state: RunRecord, chunk: Chunk, lines: list[str]) -> str:
        """Write ``lines`` (the chunk's, then new ones) as the chunk; its resourceVersion."""
        text = "".join(line + "\n" for line in lines)
        obj = self._object(state, rec.EVENTS, rec.events_record_name(state.run_id, chunk.number))
        obj["metadata"]["labels"][rec.LABEL_CHUNK] = str(chunk.number)
        obj["data"] = {rec.KEY_EVENTS: text}
        version = chunk.resource_version
        for _ in range(3):
            if version is None:
                written = self.create(obj)
            else:
                obj["metadata"]["resourceVersion"] = version
                written = self.apply_guarded(obj)
            if written is not None:
                return written
            there = rec.read(self.cluster, self.namespace, obj["metadata"]["name"])
            if there is None:  # gone in between: create it again
                version = None
                continue
            held = rec.data_of(there).get(rec.KEY_EVENTS, "").splitlines()
            if held == lines:  # ours: a write whose answer was lost
                return str(there.metadata.resource_version)
            if len(held) < len(chunk.lines) or lines[: len(held)] != held:
                break  # someone else's events
            version = there.metadata.resource_version  # part of ours got there: the rest
        raise rec.RecordConflictError(
            f"another writer extended the record of run '{state.run_id}' (chunk "
            f"{chunk.number}) - is another controller driving it?"
        )

    def _object(self, state: RunRecord, record: str, name: str) -> rec.Obj:
        return rec.config_map(
            name,
            self.namespace,
            rec.record_labels(record, state.deployment, state.run_id),
            {},
            {rec.ANNOTATION_RUN_ID: state.run_id},
        )

    # -- deployments --------------------------------------------------------------------------

    def push_deployment(
        self, state: DeploymentRecord, queued: list[changes.DeploymentChange]
    ) -> None:
        for _ in range(DEPLOYMENT_TRIES):
            new = changes.changed(state.base, queued)
            if new is None or new == state.base:
                break
            revision = state.revision + 1
            obj = rec.config_map(
                rec.deployment_record_name(state.name),
                self.namespace,
                rec.record_labels(rec.DEPLOYMENT, state.name),
                {rec.KEY_DEPLOYMENT: rec.deployment_doc(new)},
                {rec.ANNOTATION_REVISION: str(revision)},
                state.resource_version,
            )
            if state.resource_version is None:
                version = self.create(obj)
            else:
                version = self.apply_guarded(obj)
            if version is not None:
                state.base, state.resource_version, state.revision = new, version, revision
                break
            self.load_deployment(state)  # someone else changed it: change it as it is now
        else:
            raise rec.RecordConflictError(
                f"the record of deployment '{state.name}' kept changing under this writer"
            )
        with self.lock:
            del state.changes[: len(queued)]

    def load_deployment(self, state: DeploymentRecord) -> None:
        """The deployment's record as the cluster holds it now (none: None)."""
        obj = rec.read(self.cluster, self.namespace, rec.deployment_record_name(state.name))
        text = rec.data_of(obj).get(rec.KEY_DEPLOYMENT) if obj is not None else None
        if obj is None or text is None:
            state.base, state.resource_version, state.revision = None, None, 0
            return
        state.base = rec.parse_deployment(text)
        state.resource_version = obj.metadata.resource_version
        state.revision = int(rec.notes_of(obj).get(rec.ANNOTATION_REVISION, "0"))

    # -- writes -------------------------------------------------------------------------------

    def create(self, obj: rec.Obj) -> str | None:
        """Create ``obj``: its resourceVersion, or None when it exists already."""
        with self.cluster.translated():
            try:
                made: Any = self.cluster.core.create_namespaced_config_map(
                    self.namespace,
                    obj,  # type: ignore[arg-type]  # the client sends a dict as it is
                    field_manager=FIELD_MANAGER,
                )
            except ApiException as exc:
                if exc.status == 409:
                    return None
                raise
        return str(made.metadata.resource_version)

    def apply_guarded(self, obj: rec.Obj) -> str | None:
        """Apply ``obj`` if it is still at its resourceVersion: the new one, or None."""
        with self.cluster.translated():
            try:
                result: Any = self.cluster.core.patch_namespaced_config_map(
                    obj["metadata"]["name"],
                    self.namespace,
                    obj,
                    field_manager=FIELD_MANAGER,
                    force=True,
                    _content_type="application/apply-patch+yaml",
                )
            except ApiException as exc:
                if exc.status == 409:
                    return None
                raise
        return str(result.metadata.resource_version)
