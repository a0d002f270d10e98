"""List, then watch: the changes of the objects one query selects, never a polling loop.

An ``ObjectStream`` runs in a daemon thread of its own (a watch blocks for minutes, and
the default executor of ``asyncio.to_thread`` has only a few threads): it lists the
objects, hands them over as one ``LISTED`` change, then watches from the list's
resourceVersion and hands over every ``ADDED``, ``MODIFIED`` and ``DELETED``. A watch
that ends cleanly (its ``timeout_seconds``) resumes from the last resourceVersion seen;
a resourceVersion too old for the server (410 Gone, as an ``ApiException`` or an
``ERROR`` event) means a new list, so no change is ever missed. Objects are plain dicts
as the API server sends them (camelCase keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from bodywork_jupyter.backends.kubernetes.cluster import Cluster

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How long one watch request lasts before the server ends it (and it resumes).
WATCH_SECONDS = 60
#: Failed requests in a row (not 410) before the stream gives up and reports the error.
MAX_FAILURES = 5
GONE = 410


@dataclass(frozen=True)
class Change:
    """One thing a stream saw: a (re-)list, one object's change, or the error it gave up on."""

    type: str  # LISTED, ADDED, MODIFIED, DELETED, ERROR
    obj: Obj | None = None
    items: tuple[Obj, ...] = ()
    error: BaseException | None = None


Deliver = Callable[[Change], None]


def to_queue(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], tag: str) -> Deliver:
    """A ``Deliver`` that puts ``(tag, change)`` on ``queue``, in the loop's own thread."""

    def deliver(change: Change) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, (tag, change))

    return deliver


def shutdown(response: Any) -> None:
    """Unblock a thread reading ``response`` (a urllib3 response) from another thread."""
    connection = getattr(response, "connection", None) or getattr(response, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class ObjectStream:
    """The objects of ``list_function(namespace, **selectors)``, listed then watched."""

    def __init__(
        self,
        cluster: Cluster,
        list_function: Callable[..., Any],
        namespace: str,
        deliver: Deliver,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        watch_seconds: int = WATCH_SECONDS,
        what: str = "objects",
    ) -> None:
        self.cluster = cluster
        self.list_function = list_function
        self.namespace = namespace
        self.deliver = deliver
        self.query: dict[str, str] = {}
        if label_selector:
            self.query["label_selector"] = label_selector
        if field_selector:
            self.query["field_selector"] = field_selector
        self.watch_seconds = watch_seconds
        self.what = what
        self._stopped = threading.Event()
        self._watch: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch {what}", daemon=True)
        #: every resourceVersion re-list, for tests and logs
        self.lists = 0

    def start(self) -> ObjectStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once (non-blocking): the thread ends on its own."""
        self._stopped.set()
        current = self._watch
        if current is not None:
            current.stop()  # shuts the socket down: a blocked read returns

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        version: str | None = None
        failures = 0
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._follow(version)
                failures = 0
            except ApiException as exc:
                if exc.status == GONE:
                    log.debug("%s: resourceVersion %s is gone, listing again", self.what, version)
                    version = None
                    continue
                failures += 1
                if self._give_up(failures, self.cluster.error(exc)):
                    return
            except Exception as exc:
                if self._stopped.is_set():
                    return
                failures += 1
                if self._give_up(failures, exc):
                    return

    def _give_up(self, failures: int, error: BaseException) -> bool:
        if failures >= MAX_FAILURES:
            self.deliver(Change("ERROR", error=_translated(self.cluster, error)))
            return True
        log.debug("%s: %s (retrying)", self.what, error)
        # a short back-off between failed requests, interrupted by stop()
        self._stopped.wait(min(0.2 * 2**failures, 5.0))
        return self._stopped.is_set()

    def _list(self) -> str:
        response = self.list_function(self.namespace, **self.query, _preload_content=False)
        try:
            data = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        self.lists += 1
        items = tuple(data.get("items") or ())
        self.deliver(Change("LISTED", items=items))
        return str(data.get("metadata", {}).get("resourceVersion") or "")

    def _follow(self, version: str) -> str | None:
        """Watch from ``version``; the last version seen (None: list again)."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        self._watch = stream
        if self._stopped.is_set():
            return version
        events = stream.stream(  # type: ignore[no-untyped-call]
            self.list_function,
            self.namespace,
            **self.query,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            # a connection that dies silently still ends the request
            _request_timeout=(10, self.watch_seconds + 30),
        )
        for event in events:
            raw: Obj = event.get("raw_object") or {}
            kind = event.get("type")
            if kind == "ERROR":  # the client raises these; kept in case it passes one on
                if raw.get("code") == GONE:
                    return None
                raise ApiException(status=raw.get("code"), reason=raw.get("message"))
            seen = (raw.get("metadata") or {}).get("resourceVersion")
            if seen:
                version = str(seen)
            if kind != "BOOKMARK":
                self.deliver(Change(str(kind), obj=raw))
            if self._stopped.is_set():
                break
        return version


def _translated(cluster: Cluster, error: BaseException) -> BaseException:
    try:
        with cluster.translated():
            raise error
    except BaseException as translated:  # we only want the translation
        return translated


@dataclass
class Objects:
    """The current objects of one stream, by name, kept up to date from its changes."""

    by_name: dict[str, Obj] = field(default_factory=dict)

    def update(self, change: Change) -> None:
        if change.type == "LISTED":
            self.by_name = {_name(o): o for o in change.items}
        elif change.obj is not None and change.type in ("ADDED", "MODIFIED"):
            self.by_name[_name(change.obj)] = change.obj
        elif change.obj is not None and change.type == "DELETED":
            self.by_name.pop(_name(change.obj), None)

    def values(self) -> list[Obj]:
        return list(self.by_name.values())


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class AttemptStreams:
    """The two streams of one attempt: its object (by name) and its pods (by labels).

    ``next()`` gives ``("main", change)`` or ``("pods", change)`` in the order they came,
    with ``pods`` kept up to date; a stream that gave up raises its error there.
    """

    def __init__(
        self,
        cluster: Cluster,
        list_main: Callable[..., Any],
        namespace: str,
        name: str,
        pod_selector: str,
        what: str,
    ) -> None:
        self.queue: asyncio.Queue[tuple[str, Change]] = asyncio.Queue()
        self.pods = Objects()
        loop = asyncio.get_running_loop()
        self.streams = [
            ObjectStream(
                cluster,
                list_main,
                namespace,
                to_queue(loop, self.queue, "main"),
                field_selector=f"metadata.name={name}",
                what=what,
            ),
            ObjectStream(
                cluster,
                cluster.core.list_namespaced_pod,
                namespace,
                to_queue(loop, self.queue, "pods"),
                label_selector=pod_selector,
                what=f"pods of {what}",
            ),
        ]

    def __enter__(self) -> AttemptStreams:
        for stream in self.streams:
            stream.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in self.streams:
            stream.stop()

    async def next(self) -> tuple[str, Change]:
        tag, change = await self.queue.get()
        if change.error is not None:
            raise change.error
        if tag == "pods":
            self.pods.update(change)
        return tag, change


def current(change: Change, uid: str) -> Obj | None:
    """The object of ``uid`` after ``change`` of a by-name stream (None: gone or replaced)."""
    if change.type == "LISTED":
        found = [o for o in change.items if (o.get("metadata") or {}).get("uid") == uid]
        return found[0] if found else None
    if change.obj is None or change.type == "DELETED":
        return None
    return change.obj if (change.obj.get("metadata") or {}).get("uid") == uid else None


async def until_pods_go(
    cluster: Cluster, namespace: str, pod_selector: str, seconds: float
) -> bool:
    """Wait (at most ``seconds``) until every pod ``pod_selector`` selects is gone or
    terminating; False if some are still there."""
    queue: asyncio.Queue[tuple[str, Change]] = asyncio.Queue()
    pods = Objects()
    stream = ObjectStream(
        cluster,
        cluster.core.list_namespaced_pod,
        namespace,
        to_queue(asyncio.get_running_loop(), queue, "pods"),
        label_selector=pod_selector,
        what=f"pods {pod_selector}",
    ).start()

    async def going() -> None:
        while True:
            _, change = await queue.get()
            if change.error is not None:  # the pods cannot be watched: do not wait
                log.info("pods %s: %s", pod_selector, change.error)
                return
            pods.update(change)
            if all((p.get("metadata") or {}).get("deletionTimestamp") for p in pods.values()):
                return

    try:
        await asyncio.wait_for(going(), seconds)
    except TimeoutError:
        log.info("pods %s still there after %gs", pod_selector, seconds)
        return False
    finally:
        stream.stop()
    return True
