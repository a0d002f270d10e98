"""Following a stage pod's log for the runner's event lines (``::bodywork-event:: {...}``).

The runner prints its events on stdout, so they are in the pod's log: a ``LogFollower``
reads it with ``follow=True`` in a daemon thread of its own and hands every event to a
callback in the event loop's thread (where the engine's sink records it). It ends when
the log does (the container ended) or when it is stopped, which never waits: the socket
is shut down under the blocked read. A connection lost in between is opened again and
the lines already read are skipped (a container's log only grows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.watching import shutdown
from bodywork_runner.events import parse_event

log = logging.getLogger(__name__)

#: Connections lost (or refused while the container starts) before following gives up.
MAX_RECONNECTS = 5
#: Lines of a crashed container's log searched for the runner's last word.
TAIL_LINES = 200


class LogFollower:
    """Follows ``container`` of ``pod``; ``on_event(event)`` runs in ``loop``'s thread."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        pod: str,
        container: str,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.loop = loop
        self.on_event = on_event
        self.lines = 0
        self.finished = asyncio.Event()  # set in the loop once every event was handed over
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"log {pod}", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            shutdown(response)

    async def drained(self, seconds: float) -> bool:
        """Wait (at most ``seconds``) until the log ended and its events were handed over."""
        try:
            await asyncio.wait_for(self.finished.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # -- the thread ------------------------------------------------------------------------

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self.loop.call_soon_threadsafe(function, *args)

    def _run(self) -> None:
        try:
            failures = 0
            while not self._stopped.is_set():
                try:
                    self._read()
                    return  # the log ended: the container is done
                except ApiException as exc:
                    if exc.status == 404:
                        return  # the pod is gone
                    log.debug("log of pod %s: %s", self.pod, exc.status)
                    failures += 1
                except Exception as exc:
                    if self._stopped.is_set():
                        return
                    log.debug("log of pod %s: %r", self.pod, exc)
                    failures += 1
                if failures >= MAX_RECONNECTS:
                    log.warning("gave up following the log of pod %s", self.pod)
                    return
                self._stopped.wait(0.2 * 2**failures)  # e.g. "waiting to start": soon again
        finally:
            self._call(self.finished.set)

    def _read(self) -> None:
        # no request timeout: a cell may print nothing for an hour
        response: Any = self.cluster.core.read_namespaced_pod_log(
            self.pod,
            self.namespace,
            container=self.container,
            follow=True,
            _preload_content=False,
        )
        self._response = response
        try:
            if self._stopped.is_set():
                return
            skip = self.lines  # read before the connection was lost
            lines = iter_resp_lines(response)  # type: ignore[no-untyped-call]
            for index, line in enumerate(lines):
                if index < skip:
                    continue
                self.lines += 1
                event = parse_event(line)
                if event is not None:
                    self._call(self.on_event, event)
                if self._stopped.is_set():
                    return
        finally:
            self._response = None
            with contextlib.suppress(Exception):
                response.release_conn()


def last_failure(
    cluster: Cluster, namespace: str, pod: str, container: str
) -> dict[str, Any] | None:
    """The runner's ``stage.failed`` event in the log of ``container``'s previous run, if any.

    A service crashing in a loop may crash before its log is followed (a loaded node):
    what its runner said is then only in the terminated container's log (``previous``)."""
    try:
        # raw bytes, as stage_logs reads a log: preloaded, the client would try the text
        # as JSON first
        response: Any = cluster.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            previous=True,
            tail_lines=TAIL_LINES,
            _preload_content=False,
        )
        try:
            text = (response.data or b"").decode("utf-8", errors="replace")
        finally:
            response.release_conn()
    except Exception as exc:  # no previous container (yet), or the pod is gone
        log.debug("previous log of pod %s: %r", pod, exc)
        return None
    failed = None
    for line in text.splitlines():
        event = parse_event(line)
        if event is not None and event.get("event") == "stage.failed":
            failed = event
    return failed
