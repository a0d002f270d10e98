"""A bounded load generator on loopback: keep-alive clients that never retry.

``Load(url).start()`` runs ``threads`` clients, each one HTTP/1.1 connection
(``http.client``) POSTing JSON as fast as answers come (or every ``interval`` s), until
``stop()``, ``max_seconds`` or ``max_requests``, whichever comes first. A client opens a
new connection only when the server said ``Connection: close`` or closed the kept-alive
one between two answers (what a real client does, as urllib3 checks before reuse), or,
with ``requests_per_connection``, after that many answers on it (as a pool recycles its
connections): a TCP proxy routes connections, so only new ones show where traffic goes.
The last ``naive`` clients do not look before reuse (as wrk does): a server that closes a
kept-alive connection instead of answering ``Connection: close`` costs them a request.

Every request is recorded: when it started and ended, its status or the exception that
ended it. A request that died (refused, reset, closed before the answer, timed out) is a
failure and is not sent again: a real client's request that died is a lost request.
The ``Report`` says how many were sent and failed (by kind), the longest window with no
successful answer ("seconds down"), and which versions answered when (the answer's JSON
``version`` field).

Shared by the fault tests (tests/engine/test_redeploy_faults.py) and
benchmarks/bench_redeploy.py.
"""

from __future__ import annotations

import http.client
import itertools
import json
import select
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

#: the only hosts a load may go to: this machine
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Answer:
    """One request: when it started and ended (seconds since the load began), and how."""

    client: int
    start: float
    end: float
    status: int | None  # None: no answer, ``error`` says why
    error: str | None = None  # the failure's kind: ConnectionRefusedError, RemoteDisconnected
    version: Any = None  # the answer's JSON "version"
    pid: Any = None  # the answer's JSON "pid" (which replica answered, when it says)
    closed: bool = False  # the answer said Connection: close (or was HTTP/1.0)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def kind(self) -> str:
        """What went wrong: the exception's kind, or ``HTTP 502``; ``ok`` when nothing."""
        if self.ok:
            return "ok"
        return self.error if self.error is not None else f"HTTP {self.status}"


@dataclass(frozen=True)
class Span:
    """Consecutive successful answers (by end time) from one version."""

    version: Any
    first: float
    last: float
    count: int


@dataclass(frozen=True)
class Report:
    answers: tuple[Answer, ...]
    duration: float  # from the start until the load was stopped (or hit its cap)
    capped: str | None = None  # "max_seconds" / "max_requests" when a cap ended it

    @property
    def sent(self) -> int:
        return len(self.answers)

    @property
    def failed(self) -> int:
        return sum(1 for a in self.answers if not a.ok)

    @property
    def failures(self) -> dict[str, int]:
        return dict(Counter(a.kind for a in self.answers if not a.ok))

    @property
    def seconds_down(self) -> float:
        """The longest window with no successful answer, within [0, duration]."""
        ends = sorted(a.end for a in self.answers if a.ok)
        marks = [0.0, *(min(e, self.duration) for e in ends), self.duration]
        return max(b - a for a, b in itertools.pairwise(marks))

    @property
    def timeline(self) -> list[Span]:
        """Which version answered, over time: runs of answers from the same version."""
        spans: list[Span] = []
        for answer in sorted((a for a in self.answers if a.ok), key=lambda a: a.end):
            last = spans[-1] if spans else None
            if last is not None and last.version == answer.version:
                spans[-1] = Span(last.version, last.first, answer.end, last.count + 1)
            else:
                spans.append(Span(answer.version, answer.end, answer.end, 1))
        return spans

    @property
    def versions_seen(self) -> list[Any]:
        """The versions that answered, in the order they first did."""
        seen: list[Any] = []
        for span in self.timeline:
            if span.version not in seen:
                seen.append(span.version)
        return seen

    def started_between(self, start: float, end: float = float("inf")) -> list[Answer]:
        """The requests that started in [start, end) (seconds since the load began)."""
        return [a for a in self.answers if start <= a.start < end]

    def versions_between(self, start: float, end: float = float("inf")) -> set[Any]:
        """The versions that answered requests started in [start, end)."""
        return {a.version for a in self.started_between(start, end) if a.ok}

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "failures": self.failures,
            "seconds_down": round(self.seconds_down, 3),
            "versions_seen": self.versions_seen,
            "told_to_close": sum(1 for a in self.answers if a.closed),
            "timeline": [
                {
                    "version": s.version,
                    "from": round(s.first, 3),
                    "to": round(s.last, 3),
                    "answers": s.count,
                }
                for s in self.timeline
            ],
            "duration": round(self.duration, 3),
            "capped": self.capped,
        }

    def describe(self, limit: int = 8) -> str:
        """A few lines for an assertion message: the figures and the first failures."""
        lines = [
            f"sent {self.sent}, failed {self.failed} {self.failures}, "
            f"down {self.seconds_down:.2f}s, versions {self.versions_seen}, "
            f"told to close {sum(1 for a in self.answers if a.closed)}, "
            f"over {self.duration:.1f}s" + (f" (capped: {self.capped})" if self.capped else ""),
        ]
        spans = ", ".join(
            f"v{s.version} {s.first:.2f}-{s.last:.2f}s ({s.count})" for s in self.timeline
        )
        lines.append(f"timeline: {spans}")
        for answer in [a for a in self.answers if not a.ok][:limit]:
            lines.append(
                f"  client {answer.client} at {answer.start:.2f}-{answer.end:.2f}s: {answer.kind}"
            )
        return "\n".join(lines)


@dataclass
class _Shared:
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    taken: int = 0
    capped: str | None = None
    capped_at: float | None = None


class Load:
    """``threads`` keep-alive clients POSTing ``payload`` to ``url`` (loopback only)."""

    def __init__(
        self,
        url: str,
        payload: object = None,
        *,
        threads: int = 4,
        max_seconds: float = 60.0,
        max_requests: int = 100_000,
        timeout: float = 10.0,
        interval: float = 0.0,
        requests_per_connection: int | None = None,
        naive: int = 0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK:
            raise ValueError(f"a load goes to this machine only (http://127.0.0.1:PORT/...): {url}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.body = json.dumps({} if payload is None else payload).encode()
        self.threads = max(1, threads)
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout = timeout
        self.interval = interval
        self.requests_per_connection = requests_per_connection
        self.naive = naive
        self._shared = _Shared()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._began = 0.0
        self._stopped_at: float | None = None

    # -- running --------------------------------------------------------------------------

    def start(self) -> Load:
        if self._workers:
            raise RuntimeError("this load was started already")
        self._began = time.monotonic()
        self._workers = [
            threading.Thread(target=self._client, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> Report:
        """Stops the clients (each finishes the request it is in) and reports."""
        if self._stopped_at is None:
            self._stopped_at = self.now()
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 2)
        return self.report()

    def now(self) -> float:
        """Seconds since the load began (how its answers are timed)."""
        return time.monotonic() - self._began

    def report(self) -> Report:
        """What was answered so far (the figures of a running load, or of a stopped one)."""
        with self._shared.lock:
            answers = tuple(self._shared.answers)
            capped, capped_at = self._shared.capped, self._shared.capped_at
        duration = self._stopped_at if self._stopped_at is not None else self.now()
        if capped_at is not None:
            duration = min(duration, capped_at)
        return Report(answers, duration, capped)

    def stop_when_capped(self, timeout: float | None = None) -> Report:
        """Waits until a cap ends the load (at most ``timeout`` s), then stops it."""
        self._stop.wait(self.max_seconds + self.timeout if timeout is None else timeout)
        return self.stop()

    def wait_for(self, check: Any, timeout: float = 30.0) -> Report:
        """The report once ``check(report)`` is true (AssertionError after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.report()
            if check(report):
                return report
            if self._stop.is_set():
                break
            time.sleep(0.05)
        raise AssertionError(f"not within {timeout}s: {check}\n{self.report().describe()}")

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # -- one client -----------------------------------------------------------------------

    def _take(self) -> bool:
        """Whether another request may go (the caps: count and time)."""
        shared = self._shared
        with shared.lock:
            if self._stop.is_set():
                return False
            cap = (
                "max_requests"
                if shared.taken >= self.max_requests
                else "max_seconds"
                if self.now() >= self.max_seconds
                else None
            )
            if cap is not None:
                shared.capped, shared.capped_at = cap, self.now()
                self._stop.set()
                return False
            shared.taken += 1
            return True

    def _client(self, number: int) -> None:
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        connection: http.client.HTTPConnection | None = None
        used = 0  # answers on this connection
        looks = number < self.threads - self.naive  # before it reuses a connection
        try:
            while self._take():
                if connection is not None and looks and _dropped(connection):
                    connection.close()  # closed by the server between answers: a new one
                    connection = None
                if connection is None:
                    connection = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout
                    )
                    used = 0
                started = self.now()
                try:
                    connection.request("POST", self.path, self.body, headers)
                    response = connection.getresponse()
                    data = response.read()
                except Exception as exc:  # the request died: a failure, never sent again
                    self._record(Answer(number, started, self.now(), None, _kind(exc)))
                    connection.close()
                    connection = None
                else:
                    version, pid = _fields(data)
                    closed = bool(response.will_close)
                    ended = self.now()
                    status = response.status
                    self._record(Answer(number, started, ended, status, None, version, pid, closed))
                    used += 1
                    recycle = self.requests_per_connection
                    # Connection: close (or HTTP/1.0); or closed by us, between requests
                    if closed or (recycle is not None and used >= recycle):
                        connection.close()
                        connection = None
                if self.interval:
                    self._stop.wait(self.interval)
        finally:
            if connection is not None:
                connection.close()

    def _record(self, answer: Answer) -> None:
        with self._shared.lock:
            self._shared.answers.append(answer)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether a kept-alive connection was closed by the server (readable while idle)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return "timeout"
    return type(exc).__name__


def _fields(data: bytes) -> tuple[Any, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    return body.get("version"), body.get("pid")
