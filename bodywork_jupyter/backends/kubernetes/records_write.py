"""Writing run records to the cluster: a working run store per run, flushed in batches.

``RecordWriter`` is the engine's ``Recorder`` on a cluster. Each run it touches has a
working ``RunStore`` of its own in a local folder (in the controller pod, an emptyDir):
``record()`` records there (the store's own fold makes the summary rows) and queues the
new events; a flush writes them to the namespace (``records`` says how, ``records_push``
how safely). Flushes come from a background thread at most every ``flush_interval``
seconds while something is queued, and from ``flush()`` / ``close()``;
``flush_interval=None`` leaves them to the caller. The thread never touches a store: what
it writes was queued by ``record()``, in the caller's thread.

A run has a store of its own so that its event numbers are the record's (1, 2, ...)
whichever writer appends: a run the writer does not hold yet is restored from the
cluster first (``restore``: the run's row, then its events replayed in order), and the
next event follows the last one restored.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.kubernetes import deployment_changes as changes
from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_push import (
    Chunk,
    DeploymentRecord,
    Pusher,
    RunRecord,
)
from bodywork_jupyter.engine.store import Deployment, Run, RunStore

log = logging.getLogger(__name__)


class RecordWriter:
    """Records runs in working stores under ``folder`` and flushes them to ``namespace``."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        folder: Path | None = None,
        *,
        flush_interval: float | None = 0.5,
        chunk_events: int = rec.CHUNK_EVENTS,
        chunk_bytes: int = rec.CHUNK_BYTES,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._own_folder = folder is None
        self.folder = (
            Path(tempfile.mkdtemp(prefix="bodywork-records-")) if folder is None else folder
        )
        self._runs: dict[str, RunRecord] = {}
        self._deployments: dict[str, DeploymentRecord] = {}
        self._lock = threading.Lock()  # the queues (short holds)
        self._pusher = Pusher(cluster, namespace, self._lock, chunk_events, chunk_bytes)
        self._push_lock = threading.Lock()  # one flush at a time
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_interval is not None:
            self._thread = threading.Thread(
                target=self._flush_loop, args=(flush_interval,), name="bodywork-records",
                daemon=True,
            )  # fmt: skip
            self._thread.start()

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        deployment: str,
        pipeline: str,
        source: dict[str, Any],
        plan: dict[str, Any],
        options: dict[str, Any] | None = None,
        target: str = "kubernetes",
        started_by: str | None = None,
    ) -> Run:
        """A new queued run of ``deployment`` (and the deployment's record updated); its
        ``started_by`` goes into the record's ``run.json`` with the rest of the row."""
        store = self._new_store()
        run = store.create_run(deployment, pipeline, target, source, plan, options, started_by)
        state = RunRecord(run.id, deployment, store, Chunk(0), plan_doc=rec.dumps(run.plan))
        with self._lock:
            self._runs[run.id] = state
        upsert = changes.upserted(deployment, pipeline, target, source, run.created)
        self._change(deployment, upsert)
        self._collect(state)
        return run

    def restore(self, run_id: str) -> Run:
        """Rebuild the run's working store from its record in the cluster (replacing any
        this writer held: what it had not flushed yet is flushed first)."""
        if run_id in self._runs:
            self.flush()
        store = self._new_store()
        try:
            state = self._pusher.load_run(run_id, store)
        except BaseException:
            store.close()
            shutil.rmtree(store.state_dir, ignore_errors=True)
            raise
        with self._lock:
            old = self._runs.pop(run_id, None)
            self._runs[run_id] = state
        if old is not None:
            _remove(old)
        self._collect(state)  # the summary again, should the chunks be ahead of it
        run = state.store.get_run(run_id)
        assert run is not None
        return run

    def record(
        self,
        run_id: str,
        type_: str,
        stage: str | None = None,
        attempt: int | None = None,
        **data: Any,
    ) -> None:
        """The engine's ``Recorder``: record the event locally, queue it for the cluster."""
        state = self._run(run_id)
        state.store.record(run_id, type_, stage, attempt, **data)
        self._collect(state)

    def forget(self, run_id: str) -> None:
        """Drop the run's working store and what it had not flushed (after a
        ``RecordConflictError``: another writer drives the run now)."""
        with self._lock:
            state = self._runs.pop(run_id, None)
        if state is not None:
            _remove(state)

    def store(self, run_id: str) -> RunStore:
        """The run's working store (restored from the cluster if this writer lacks it)."""
        return self._run(run_id).store

    def cancel_requested(self, run_id: str, summary: Any | None = None) -> bool:
        """Whether someone asked to cancel the run: its summary carries the cancel flag (read
        now, or ``summary`` as a watch delivered it). The first time, the request is
        recorded (``run.cancel_requested``; a queued run is cancelled at once)."""
        state = self._run(run_id)
        if state.store.cancel_requested(run_id):
            return True
        obj = summary if summary is not None else self._pusher.summary(run_id)
        if obj is None or not rec.cancel_flag(obj):
            return False
        state.store.request_cancel(run_id)
        self._collect(state)
        return True

    # -- deployments --------------------------------------------------------------------------

    def get_deployment(self, name: str) -> Deployment | None:
        """The deployment as this writer's changes leave it."""
        state = self._deployment(name)
        with self._lock:
            return changes.changed(state.base, list(state.changes))

    def set_deployment_status(self, name: str, status: str, unless: tuple[str, ...] = ()) -> None:
        self._change(name, changes.status_set(status, unless, time.time()))

    def set_current_run(self, name: str, run_id: str) -> None:
        self._change(name, changes.current_run_set(run_id, time.time()))

    # -- flushing -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued to the cluster now."""
        with self._push_lock:
            with self._lock:
                runs = [(s, list(s.pending), s.summary) for s in self._runs.values() if s.stale()]
                deployments = [
                    (d, list(d.changes)) for d in self._deployments.values() if d.changes
                ]
            for state, lines, summary in runs:
                self._pusher.push_run(state, lines, summary)
            for deployment, queued in deployments:
                self._pusher.push_deployment(deployment, queued)

    def close(self) -> None:
        """Stop the background flushes, flush what is left, close the working stores."""
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        except BaseException:
            for state in self._runs.values():
                state.store.close()  # its file stays: what could not be written is there
            raise
        for state in self._runs.values():
            _remove(state)
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside -------------------------------------------------------------------------------

    def _new_store(self) -> RunStore:
        return RunStore(self.folder / uuid.uuid4().hex)

    def _run(self, run_id: str) -> RunRecord:
        state = self._runs.get(run_id)
        if state is None:
            self.restore(run_id)
            state = self._runs[run_id]
        return state

    def _collect(self, state: RunRecord) -> None:
        """Queue the run's new events and its summary as the store now has them."""
        events = state.store.events(state.run_id, after=state.collected)
        run = state.store.get_run(state.run_id, with_plan=False)
        assert run is not None
        seq = events[-1].seq if events else state.collected
        summary = (rec.run_doc(run), rec.stages_doc(state.store.stages(state.run_id)), seq)
        lines = [rec.event_line(event) for event in events]
        with self._lock:
            state.pending += lines
            state.collected = seq
            state.summary = summary
        self._dirty.set()

    def _deployment(self, name: str) -> DeploymentRecord:
        state = self._deployments.get(name)
        if state is None:
            state = DeploymentRecord(name, None, None, 0)
            self._pusher.load_deployment(state)
            with self._lock:
                state = self._deployments.setdefault(name, state)
        return state

    def _change(self, name: str, change: changes.DeploymentChange) -> None:
        state = self._deployment(name)
        with self._lock:
            state.changes.append(change)
        self._dirty.set()

    def _flush_loop(self, interval: float) -> None:
        last = 0.0
        while True:
            self._dirty.wait()
            wait = last + interval - time.monotonic()
            if self._stopping.wait(max(wait, 0.0)) or self._stopping.is_set():
                return
            self._dirty.clear()
            last = time.monotonic()
            try:
                self.flush()
            except rec.RecordConflictError as exc:
                log.error("run records: %s (flushes stop)", exc)
                return
            except Exception as exc:
                log.warning("run records could not be written (retrying): %s", exc)
                self._dirty.set()
                self._stopping.wait(interval)


def _remove(state: RunRecord) -> None:
    """Close a run's working store and remove its folder (the cluster holds the record)."""
    state.store.close()
    shutil.rmtree(state.store.state_dir, ignore_errors=True)
