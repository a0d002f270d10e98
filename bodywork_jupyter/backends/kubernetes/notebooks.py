"""Executed notebooks of cluster runs, kept as records beside the run's other records.

A stage pod writes its executed notebook to an emptyDir that goes with the pod, and the
pod has no API token to put it anywhere. So its runner sends the notebook in its log
(``notebook.part`` events, gzip + base64: ``bodywork_runner.notebook_events``), which the
backend follows anyway; a ``NotebookKeeper`` per batch attempt puts the parts together
and writes them as the attempt's notebook record (``records.notebook_record_name``,
``bodywork.dev/record: notebook``, labelled with the run and its deployment like every
record, so deleting the deployment removes it): the gzip in ``binaryData``. A notebook
whose gzip is larger than a ConfigMap can hold leaves a note saying so instead. ``read``
gives a notebook back, to the target.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import replace
from typing import Any

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.engine.backend import Outcome
from bodywork_jupyter.errors import NotFoundError
from bodywork_runner.notebook_events import MAX_GZIP_BYTES, NotebookParts, decompress

log = logging.getLogger(__name__)

KEY_NOTEBOOK = "notebook.ipynb.gz"
KEY_NOTE = "note"
ANNOTATION_STAGE = "bodywork.dev/stage-name"
ANNOTATION_ATTEMPT = "bodywork.dev/attempt"
#: How long an attempt's outcome waits for its notebook's record to be written.
WRITE_SECONDS = 10.0


def too_large_note(size: int) -> str:
    return (
        f"the executed notebook was too large to keep in the cluster ({size} bytes gzipped; "
        f"at most {MAX_GZIP_BYTES}) - its cell output is in 'bodywork logs'"
    )


def notebook_record(
    namespace: str,
    deployment: str,
    run_id: str,
    stage: str,
    attempt: int,
    packed: bytes | None,
    too_large: int = 0,
) -> rec.Obj:
    """The attempt's notebook record: ``packed`` (the gzip), else a note that it was too
    large (``too_large``: its size)."""
    name = rec.notebook_record_name(run_id, stage, attempt)
    notes = _identity(run_id, stage, attempt)
    labels = rec.record_labels(rec.NOTEBOOK, deployment, run_id)
    if packed is not None and len(packed) <= MAX_GZIP_BYTES:
        obj = rec.config_map(name, namespace, labels, {}, notes)
        del obj["data"]
        obj["binaryData"] = {KEY_NOTEBOOK: base64.b64encode(packed).decode("ascii")}
        return obj
    size = len(packed) if packed is not None else too_large
    return rec.config_map(name, namespace, labels, {KEY_NOTE: too_large_note(size)}, notes)


def read(cluster: Cluster, namespace: str, run_id: str, stage: str, attempt: int) -> bytes | None:
    """The executed notebook of that attempt; None when it has none. A notebook that was
    too large to keep is a NotFoundError saying so."""
    obj = rec.read(cluster, namespace, rec.notebook_record_name(run_id, stage, attempt))
    if obj is None:
        return None
    notes = rec.notes_of(obj)
    if any(notes.get(key) != value for key, value in _identity(run_id, stage, attempt).items()):
        return None  # a name shared after a cut: not this attempt's
    packed = (obj.binary_data or {}).get(KEY_NOTEBOOK)
    if packed is None:
        note = rec.data_of(obj).get(KEY_NOTE)
        if note:
            raise NotFoundError(f"stage '{stage}' of run {run_id}: {note}")
        return None
    return decompress(base64.b64decode(packed))


def _identity(run_id: str, stage: str, attempt: int) -> dict[str, str]:
    """The annotations that say exactly whose notebook a record is (names can be cut)."""
    return {
        rec.ANNOTATION_RUN_ID: run_id,
        ANNOTATION_STAGE: stage,
        ANNOTATION_ATTEMPT: str(attempt),
    }


def _deployment_of(cluster: Cluster, namespace: str, run_id: str) -> str | None:
    """The run's deployment, as its summary record says."""
    summary = rec.read(cluster, namespace, rec.run_record_name(run_id))
    text = rec.data_of(summary).get(rec.KEY_RUN) if summary is not None else None
    if not text:
        return None
    deployment = json.loads(text).get("deployment")
    return str(deployment) if deployment else None


class NotebookKeeper:
    """One batch attempt's notebook: its parts, as the log brings them, and its record.

    ``on_event`` runs in the event loop's thread (the log follower's callback); the
    record is written in a worker thread once the notebook is whole. A notebook that
    cannot be kept never fails the attempt: it is logged and left out.
    """

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        run_id: str,
        stage: str,
        attempt: int,
        deployment: str | None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.run_id = run_id
        self.stage = stage
        self.attempt = attempt
        self.deployment = deployment  # None (an attached attempt): read from the run's record
        self.parts = NotebookParts()
        self._writing: asyncio.Future[str | None] | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        if self._writing is not None:
            return
        packed = self.parts.add(event)
        if packed is not None or self.parts.too_large is not None:
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._write, packed))

    async def kept(self, timeout: float = WRITE_SECONDS) -> str | None:
        """The notebook's record name once it is written; None if there is none (or not
        in ``timeout`` seconds, or it was too large to keep)."""
        if self._writing is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._writing), timeout)
        except TimeoutError:
            log.warning("the notebook of %s attempt %d: not written yet", self.stage, self.attempt)
            return None

    async def with_notebook(self, outcome: Outcome) -> Outcome:
        """``outcome`` naming the kept notebook (as the target reads it back), if one was."""
        kept = await self.kept()
        return replace(outcome, notebook=kept) if kept else outcome

    def _write(self, packed: bytes | None) -> str | None:
        try:
            deployment = self.deployment or _deployment_of(
                self.cluster, self.namespace, self.run_id
            )
            if deployment is None:
                raise NotFoundError(f"no record of run {self.run_id}")
            obj = notebook_record(
                self.namespace,
                deployment,
                self.run_id,
                self.stage,
                self.attempt,
                packed,
                self.parts.too_large or 0,
            )
            self.cluster.apply(obj)
        except Exception as exc:
            log.warning("the notebook of %s attempt %d not kept: %s", self.stage, self.attempt, exc)
            return None
        return str(obj["metadata"]["name"]) if "binaryData" in obj else None
