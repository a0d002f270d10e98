"""Run records in the cluster: labelled ConfigMaps in the deployment's namespace (no CRD).

The record of a run is its **event log**. The summary rows are derived from it by the same
fold the local run store uses (``RunStore.record``): a writer (``records_write``) keeps a
working ``RunStore`` per run, records there and flushes to the namespace; a reader
(``records_read``) lists the ConfigMaps with label selectors and returns the store's own
record types. So the two targets cannot disagree about what a run's events mean.

One run is:

- ``bw-run-<run id>``, ``bodywork.dev/record: run``: ``run.json`` (the Run row without its
  plan) and ``stages.json`` (the StageState rows), annotated with the number of events
  written so far (``bodywork.dev/events``) and, once someone asks, the cancel flag
  (``bodywork.dev/cancel-requested``, set by a reader's merge patch; a writer's
  server-side apply leaves another manager's field alone);
- ``bw-run-<run id>-plan``, ``record: plan``: ``plan.json``, written once (a plan is
  immutable, and the summary that is rewritten on every flush stays small to list);
- ``bw-run-<run id>-events-<n>``, ``record: events``, ``bodywork.dev/chunk: n``:
  ``events.jsonl``, one event a line with its per-run sequence number (1, 2, ...), at most
  ``CHUNK_EVENTS`` events and ``CHUNK_BYTES`` bytes; only the newest chunk is ever
  written again;
- ``bw-run-<run id>-notebook-<stage>-<attempt>``, ``record: notebook``: an attempt's
  executed notebook (``notebooks``), gzipped in ``binaryData``, or a note that it was too
  large to keep.

One deployment is ``bw-deployment-<name>``, ``record: deployment``: ``deployment.json``,
annotated with a revision that grows with every change (``bodywork.dev/revision``).

Every record carries ``app.kubernetes.io/name`` and ``managed-by`` (ours), component
``record``, ``bodywork.dev/deployment`` (the deployment's Kubernetes name) and, for a
run's objects, ``bodywork.dev/run``. Labels can be cut (at 63 characters), so the records'
own contents (and the ``bodywork.dev/run-id`` annotation) say exactly whose they are.
Secrets never get here: a plan holds only references to them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BodyworkError, NotFoundError
from bodywork_jupyter.plan.kubernetes.labels import (
    LABEL_COMPONENT,
    LABEL_RUN,
    app_labels,
    label_value,
)
from bodywork_jupyter.plan.kubernetes.names import (
    DNS1123_LABEL,
    OBJECT_NAME_LIMIT,
    digest,
    k8s_object_name,
)

Obj = dict[str, Any]

LABEL_RECORD = "bodywork.dev/record"
LABEL_DEPLOYMENT = "bodywork.dev/deployment"
LABEL_CHUNK = "bodywork.dev/chunk"
ANNOTATION_RUN_ID = "bodywork.dev/run-id"
ANNOTATION_EVENTS = "bodywork.dev/events"
ANNOTATION_REVISION = "bodywork.dev/revision"
ANNOTATION_CANCEL = "bodywork.dev/cancel-requested"

RUN, PLAN, EVENTS, DEPLOYMENT = "run", "plan", "events", "deployment"
NOTEBOOK = "notebook"
KEY_RUN, KEY_STAGES, KEY_PLAN = "run.json", "stages.json", "plan.json"
KEY_EVENTS, KEY_DEPLOYMENT = "events.jsonl", "deployment.json"

#: At most this many events in one chunk ConfigMap...
CHUNK_EVENTS = 100
#: ... and at most this many bytes of ``events.jsonl`` (etcd refuses objects near 1.5 MiB
#: and the API server ConfigMaps over 1 MiB; this leaves room for metadata to spare).
CHUNK_BYTES = 256 * 1024
#: A single event longer than this is kept in the cluster with its message cut and its
#: large fields left out (``truncated``: its size).
EVENT_BYTES = 64 * 1024
#: A run's or a stage's message longer than this is cut in the summary (the events keep
#: it, up to ``EVENT_BYTES``), so a huge traceback cannot make the summary unwritable.
MESSAGE_CHARS = 16 * 1024
#: Objects per list call (a long list is read in pages).
PAGE = 500


class RecordConflictError(BodyworkError):
    """Another writer changed a record this writer was extending."""


# -- names and labels ---------------------------------------------------------------------


def _part(key: str) -> str:
    """``key`` as a name part: itself when it is one already, else cleaned plus its hash
    (so ``a_b`` and ``a-b`` never share a record)."""
    if len(key) <= OBJECT_NAME_LIMIT and DNS1123_LABEL.fullmatch(key):
        return key
    return k8s_object_name(key, digest(key), limit=OBJECT_NAME_LIMIT)


def run_record_name(run_id: str) -> str:
    return k8s_object_name("bw-run", _part(run_id))


def plan_record_name(run_id: str) -> str:
    return k8s_object_name("bw-run", _part(run_id), "plan")


def events_record_name(run_id: str, chunk: int) -> str:
    return k8s_object_name("bw-run", _part(run_id), "events", str(chunk))


def notebook_record_name(run_id: str, stage: str, attempt: int) -> str:
    return k8s_object_name("bw-run", _part(run_id), "notebook", _part(stage), str(attempt))


def deployment_record_name(name: str) -> str:
    return k8s_object_name("bw-deployment", _part(name))


def deployment_label(name: str) -> str:
    """The deployment's Kubernetes name (a pipeline's ``k8s_name``), as a label value."""
    return label_value(k8s_object_name(name))


def record_labels(record: str, deployment: str, run_id: str | None = None) -> dict[str, str]:
    labels = {
        **app_labels(),
        LABEL_COMPONENT: "record",
        LABEL_RECORD: record,
        LABEL_DEPLOYMENT: deployment_label(deployment),
    }
    if run_id is not None:
        labels[LABEL_RUN] = label_value(run_id)
    return labels


def selector(record: str, *, run_id: str | None = None, deployment: str | None = None) -> str:
    """The label selector of one kind of record (of one run, or of one deployment)."""
    terms = [f"{LABEL_RECORD}={record}"]
    if run_id is not None:
        terms.append(f"{LABEL_RUN}={label_value(run_id)}")
    if deployment is not None:
        terms.append(f"{LABEL_DEPLOYMENT}={deployment_label(deployment)}")
    return ",".join(terms)


def config_map(
    name: str,
    namespace: str,
    labels: dict[str, str],
    data: dict[str, str],
    annotations: dict[str, str] | None = None,
    resource_version: str | None = None,
) -> Obj:
    metadata: Obj = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


# -- the records' contents ----------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON as stored: ASCII only (its length is its size), keys sorted (stable)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cut(message: str) -> str:
    if len(message) <= MESSAGE_CHARS:
        return message
    return message[: MESSAGE_CHARS - 30] + f" ... ({len(message)} characters)"


def run_doc(run: Run) -> str:
    data = asdict(run)
    data.pop("plan")
    data["message"] = cut(run.message)
    return dumps(data)


def stages_doc(stages: list[StageState]) -> str:
    return dumps([{**asdict(stage), "message": cut(stage.message)} for stage in stages])


def deployment_doc(deployment: Deployment) -> str:
    data = asdict(deployment)
    del data["supervisor_pid"], data["heartbeat"]  # the local target's, not a cluster's
    return dumps(data)


def event_line(event: Event) -> str:
    data: Obj = {
        "seq": event.seq,
        "time": event.time,
        "type": event.type,
        "stage": event.stage,
        "attempt": event.attempt,
        "data": event.data,
    }
    line = dumps(data)
    if len(line) > EVENT_BYTES:  # a huge message: keep the event and its small fields
        small = {k: v for k, v in event.data.items() if len(dumps(v)) <= 1024}
        small.update(message=cut(str(event.data.get("message", ""))), truncated=len(line))
        data["data"] = small
        if len(dumps(data)) > EVENT_BYTES:
            data["data"] = {"message": small["message"], "truncated": len(line)}
        line = dumps(data)
    return line


def _known(cls: type, data: Obj) -> Obj:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def parse_run(data: Obj, plan: Obj | None, cancel_flag: bool = False) -> Run:
    values = _known(Run, data)
    values["plan"] = plan or {}
    if cancel_flag:
        values["cancel_requested"] = 1
    return Run(**values)


def parse_stages(text: str, run_id: str) -> list[StageState]:
    return [StageState(**_known(StageState, {**row, "run_id": run_id})) for row in json.loads(text)]


def parse_events(text: str, run_id: str) -> list[Event]:
    events = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            events.append(
                Event(
                    seq=int(row["seq"]),
                    run_id=run_id,
                    time=float(row["time"]),
                    type=str(row["type"]),
                    stage=row.get("stage"),
                    attempt=row.get("attempt"),
                    data=row.get("data") or {},
                )
            )
    return events


def parse_deployment(text: str) -> Deployment:
    values = _known(Deployment, json.loads(text))
    return Deployment(**{**values, "supervisor_pid": None, "heartbeat": None})


# -- reading ConfigMaps -------------------------------------------------------------------


def notes_of(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {})


def data_of(obj: Any) -> dict[str, str]:
    return dict(obj.data or {})


def cancel_flag(obj: Any) -> bool:
    """Whether a run's summary ConfigMap (a client model, or a dict from a watch) carries
    the cancel flag."""
    if isinstance(obj, dict):
        return ANNOTATION_CANCEL in (obj.get("metadata", {}).get("annotations") or {})
    return ANNOTATION_CANCEL in notes_of(obj)


def chunk_number(obj: Any) -> int:
    return int((obj.metadata.labels or {}).get(LABEL_CHUNK, "0"))


def read(cluster: Cluster, namespace: str, name: str) -> Any | None:
    """One ConfigMap (a client model), or None when there is none."""
    try:
        return cluster.call(cluster.core.read_namespaced_config_map, name, namespace)
    except NotFoundError:
        return None


def listed(cluster: Cluster, namespace: str, label_selector: str) -> Iterator[Any]:
    """The ConfigMaps ``label_selector`` selects, read in pages of ``PAGE``."""
    token: str | None = None
    while True:
        extra = {"_continue": token} if token else {}
        page: Any = cluster.call(
            cluster.core.list_namespaced_config_map,
            namespace,
            label_selector=label_selector,
            limit=PAGE,
            **extra,
        )
        yield from page.items
        token = page.metadata._continue
        if not token:
            return
