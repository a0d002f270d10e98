"""Limits of a service the runner serves: body size, JSON depth, header time, connections.

A notebook service (its ``predict`` or its own ``app``) is served by uvicorn in the
runner's process, so the runner bounds what one client can make it hold:

=====================  =====================================================  ==========
limit                  what happens                                           where
=====================  =====================================================  ==========
``max_body_bytes``     a larger body: 413, read no further than the limit     ``guard``
JSON depth (100)       a ``predict`` body nested deeper: 400, never parsed    ``load_json``
header timeout         headers not in within it: 408 and closed               protocol
body timeout (60 s)    a body not in within it of its headers: 408, closed    protocol
keep-alive (5 s)       an idle connection between requests is closed          uvicorn
``max_connections``    one beyond it: the longest waiting for a request is    protocol
                       closed (408), or, when all are busy, 503 for it
stopping (drain)       every answer says ``Connection: close``; a connection   protocol
                       idle between requests gets 1 s to send one more
=====================  =====================================================  ==========

Every refusal is JSON ``{"error": "..."}`` saying what was wrong. The connection limit
and the two timeouts live in the HTTP protocol (uvicorn's httptools one, or its h11 one
without httptools, subclassed with one mixin): uvicorn has no header or body timeout (its
keep-alive timer restarts on every byte), and an ASGI app only sees a request once its
headers are in. Without the body timeout, a body trickled a byte at a time would hold its
connection, and its place among ``max_connections``, for ever. A module service binds its
port itself: these limits are its own server's business.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, ClassVar

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: h11 serves
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from bodywork_runner.one_write import OneWrite
from bodywork_runner.spec import ServiceSettings

log = logging.getLogger(__name__)

#: containers inside containers a ``predict`` body may have; json.loads recurses per level
MAX_JSON_DEPTH = 100
#: an idle keep-alive connection is closed after this (uvicorn's default, made explicit)
KEEP_ALIVE_SECONDS = 5
#: at the connection limit, a connection that has waited this long for a request (slow
#: headers, idle keep-alive) gives its place to a new one; a real client's headers follow
#: its connect within a round trip
EVICTABLE_AFTER = 1.0
#: once the service is stopping, a connection idle between requests has this long to send
#: one more request (answered, with ``Connection: close``) before it is closed: uvicorn
#: closes it at once, which loses a request its client had just sent
DRAIN_IDLE_SECONDS = 1.0
_CLOSE = (b"connection", b"close")
_EVICTED = (
    f"the request's headers were not in after {EVICTABLE_AFTER:g} s, and the service is at "
    "its connection limit"
)
#: ``h11`` serves with uvicorn's h11 protocol even when httptools is there
HTTP_ENV = "BODYWORK_RUNNER_HTTP"
#: a refused connection is logged at most this often (a flood must not flood the log)
_LOG_EVERY_SECONDS = 10.0


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that enforce the protocol-level limits."""
    return {"http": guarded_protocol(settings), "timeout_keep_alive": KEEP_ALIVE_SECONDS}


# -- the body limit and JSON errors, as ASGI middleware ----------------------------------


def guard(app: ASGIApp, settings: ServiceSettings, *, lifespan: bool = True) -> ASGIApp:
    """``app`` with the body limit, and a JSON 500 when it raises before it answers.

    ``lifespan=False`` for an app that does not speak the lifespan protocol (a WSGI app
    behind its adapter): the guard answers it instead.
    """
    limit = settings.max_body_bytes

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and not lifespan:
            await _complete_lifespan(receive, send)
            return
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = _content_length(scope["headers"])
        if declared is not None and declared > limit:
            # refused on its headers: not a byte of the body is read
            await send_error(send, 413, too_large(limit), close=True)
            return
        exchange = _Exchange(receive, send, limit)
        try:
            await app(scope, exchange.receive, exchange.send)
        except Exception as exc:
            if exchange.refused or exchange.disconnected:
                return  # the app failed on a disconnect: the client is gone, or has its 413
            if exchange.started:
                raise  # half a response is out: uvicorn closes the connection
            log.exception("the service raised %s", type(exc).__name__)
            await send_error(send, 500, f"the service raised {type(exc).__name__} - see its log")

    return guarded


class _Exchange:
    """One request's receive and send, counting the body; past the limit, 413 and no more."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self._limit = limit
        self.received = 0
        self.started = False
        self.refused = False
        self.disconnected = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
        elif message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self._limit:
                # a body without a Content-Length (chunked) is counted as it arrives
                self.refused = True
                if not self.started:
                    await send_error(self._send, 413, too_large(self._limit), close=True)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 is the answer; what the app sends after it is dropped
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def too_large(limit: int) -> str:
    return (
        f"the request body is larger than the service's limit of {limit / 1e6:g} MB - "
        "send less, or raise service.max_body_mb in bodywork.yaml"
    )


async def send_error(send: Send, status: int, message: str, *, close: bool = False) -> None:
    body = error_body(message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 refuses a malformed one before the app sees it
    return None


async def _complete_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- JSON depth, checked before json.loads builds anything -------------------------------


class TooDeep(ValueError):
    """A JSON body nested deeper than the limit (a 400, never parsed)."""


def load_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(body)``, refusing (TooDeep) a document nested deeper than ``max_depth``.

    Raises ValueError (JSONDecodeError, TooDeep) or UnicodeDecodeError for a bad body.
    """
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads does
    if not depth_within(text, max_depth):
        raise TooDeep(
            f"the request body is nested more than {max_depth} levels deep - "
            "send a flatter document"
        )
    return json.loads(text)


# what decides the depth: brackets, and the quotes around strings (brackets in a string
# are text); objects count as arrays
_STRUCTURE = b'[]{}"'
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _STRUCTURE)
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")


def depth_within(text: str, limit: int) -> bool:
    """Whether no array or object of the JSON ``text`` sits more than ``limit`` levels deep.

    Linear and without recursion: escaped quotes go, the text is cut down to its brackets
    and quotes (C-speed bytes operations), and one regular expression that accepts
    nesting up to ``limit`` levels (a regular language) reads it. For invalid JSON the
    answer is about the part the parser reads before it stops, as json.loads would.
    """
    data = text.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return True  # no level can be deeper than there are openers
    # a backslash escapes the next character: pairs of them first, then escaped quotes,
    # so that every quote left opens or closes a string
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    shape = data.translate(_OBJECTS_AS_ARRAYS, _NOT_STRUCTURE)
    # close an unclosed string, then up to ``limit`` unclosed levels: what is left open
    # past that is too deep anyway
    shape += (b'"' if shape.count(b'"') % 2 else b"") + b"]" * limit
    end = _nesting(limit).match(shape)
    stop = end.end() if end else 0
    # all read, or a ']' closing nothing (the parser stops there); a '[' is too deep
    return stop == len(shape) or shape[stop] == ord("]")


@functools.lru_cache(maxsize=4)
def _nesting(limit: int) -> re.Pattern[bytes]:
    """Strings and arrays nested at most ``limit`` deep (possessive: linear, no backtracking)."""
    level = rb'(?:"[^"]*+")*+'
    for _ in range(limit):
        level = rb'(?:"[^"]*+"|\[' + level + rb"\])*+"
    return re.compile(level)


# -- the header timeout and the connection limit, in the HTTP protocol -------------------


def guarded_protocol(settings: ServiceSettings) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with ``settings``' header timeout and connection limit: its
    httptools one when httptools is installed (a C parser, several times h11's speed),
    else its h11 one; ``BODYWORK_RUNNER_HTTP=h11`` asks for h11."""
    base: type[_Guarded]
    if HttpToolsProtocol is not None and os.environ.get(HTTP_ENV, "").lower() != "h11":
        base = _GuardedHttpToolsProtocol
    else:
        base = _GuardedH11Protocol
    return type(base.__name__.lstrip("_"), (base,), {"settings": settings})


class _Guarded(asyncio.Protocol):
    """One connection (a mixin of uvicorn's HTTP protocols). At the limit, a new one takes
    the place of the connection that has waited longest for a request (slow headers, or
    idle between requests), if it has waited ``EVICTABLE_AFTER``; when every connection
    is busy, the new one gets 503.

    What a parser tells (``_head_in``, ``_partial``) is its subclass's; the rest is shared.
    """

    settings: ClassVar[ServiceSettings]
    # uvicorn's protocol's own state, which this mixin reads
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _waiting_since: float | None = None  # loop time since when no request is in
    _draining = False  # the server is stopping: no connection is kept alive any more
    #: the server was told to stop and still takes connections: none is kept alive
    closing_all: ClassVar[bool] = False
    _refused_since_log: ClassVar[int] = 0
    _last_log: ClassVar[float] = 0.0

    def _head_in(self) -> bool:
        """Whether a request's headers are in and its answer is not complete."""
        raise NotImplementedError

    def _partial(self) -> bool:
        """Whether part of a request's headers has arrived."""
        raise NotImplementedError

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.settings.max_connections
        if len(self.connections) > limit:  # this one is counted already
            waiting = self._longest_waiting()
            if waiting is None:
                self._refuse_connection(limit)
                return
            waiting._drop_waiting()
        # the first request's headers are due from the moment the connection is open
        self._waiting_since = self.loop.time()
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing() or self._head_in():
            self._waiting_since = None  # a request is in (or the connection is going)
            self._disarm_header_timer()
        elif self._header_timer is None:
            # the next request on a kept-alive connection: due from its first byte, and
            # not restarted by the bytes after it (a slow drip is still late)
            self._arm_header_timer()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self._head_in():
            if self._body_timer is None:  # a body still to come: due from its headers
                timeout = self.settings.body_timeout_seconds
                self._body_timer = self.loop.call_later(timeout, self._body_late, cycle)
        elif self._body_timer is not None:
            self._disarm_body_timer()

    def _request_came(self) -> None:
        if self._draining or self.closing_all:
            self._last_answer()  # a request that came while draining

    def shutdown(self) -> None:
        """The server is stopping (a redeploy replaced this replica): drain, gracefully."""
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self._last_answer()
        elif not self.transport.is_closing():
            self.loop.call_later(DRAIN_IDLE_SECONDS, self._close_if_idle)

    def _last_answer(self) -> None:
        """The answer under way is the connection's last, and says so: uvicorn would close
        the connection after it without a word, and a client sending its next request at
        that moment would lose it."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.keep_alive = False
        if not cycle.response_started and _CLOSE not in cycle.default_headers:
            cycle.default_headers = [*cycle.default_headers, _CLOSE]

    def _close_if_idle(self) -> None:
        if self.transport.is_closing():
            return
        if (
            self._head_in()
            or self._partial()
            or (self.cycle is not None and not self.cycle.response_complete)
        ):
            self.loop.call_later(DRAIN_IDLE_SECONDS, self._close_if_idle)  # a request is in
            return
        super().shutdown()  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self._head_in() and not self.transport.is_closing():
            self._waiting_since = self.loop.time()  # kept alive: idle until the next request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        self._disarm_body_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own 400 is plain text; an unparsable request gets JSON like the rest
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is under way: no second one
            return
        self.transport.write(
            raw_response(400, "the request is not valid HTTP/1.1, or its headers are too long")
        )
        self.transport.close()

    def _arm_header_timer(self) -> None:
        timeout = self.settings.header_timeout_seconds
        self._header_timer = self.loop.call_later(timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and not self._head_in():
            timeout = self.settings.header_timeout_seconds
            self._drop_waiting(f"the request's headers did not arrive within {timeout:g} s")

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_late(self, cycle: Any) -> None:
        self._body_timer = None
        if self.cycle is not cycle or not cycle.more_body or self.transport.is_closing():
            return
        timeout = self.settings.body_timeout_seconds
        if cycle.flow.read_paused:
            # the app has not taken what came (uvicorn stopped reading): not the client's
            # delay, so it gets another while
            self._body_timer = self.loop.call_later(timeout, self._body_late, cycle)
            return
        if not cycle.response_started:
            why = f"the request's body did not arrive within {timeout:g} s of its headers"
            self.transport.write(raw_response(408, why))
        self.transport.close()  # the app's receive() now says the client disconnected

    def _drop_waiting(self, why: str = _EVICTED) -> None:
        """Closes a connection with no request in: 408 if part of one came, else silently."""
        if self._partial():
            self.transport.write(raw_response(408, why))
        self.transport.close()

    def _longest_waiting(self) -> _Guarded | None:
        cutoff = self.loop.time() - EVICTABLE_AFTER
        waiting = [
            other
            for other in self.connections
            if isinstance(other, _Guarded)
            and other is not self
            and other._waiting_since is not None
            and other._waiting_since <= cutoff
            and not other.transport.is_closing()
        ]
        return min(waiting, key=lambda other: other._waiting_since or 0.0, default=None)

    def _refuse_connection(self, limit: int) -> None:
        message = (
            f"the service is at its limit of {limit} connections, none of them idle - try "
            "again shortly (or raise service.max_connections in bodywork.yaml)"
        )
        self.transport.write(raw_response(503, message, retry_after=1))
        self.transport.close()
        cls = type(self)
        cls._refused_since_log += 1
        now = time.monotonic()
        if now - cls._last_log >= _LOG_EVERY_SECONDS:
            log.warning(
                "refused %d connection(s) since the last report: %d open, none idle "
                "(max_connections)",
                cls._refused_since_log,
                limit,
            )
            cls._refused_since_log, cls._last_log = 0, now


class _GuardedH11Protocol(_Guarded, H11Protocol):
    """h11 keeps a request's bytes until its whole head is in, then leaves IDLE."""

    def _head_in(self) -> bool:
        return self.conn.their_state is not h11.IDLE

    def _partial(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def handle_events(self) -> None:
        super().handle_events()
        self._request_came()


if HttpToolsProtocol is not None:

    class _GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
        """httptools calls back as it parses: a message begins, its head completes (a
        request is in), its response completes (one fewer in)."""

        _heads = 0  # requests whose headers are in
        _answered = 0  # responses complete
        _in_head = False  # a request has begun and its headers are not all in

        def _head_in(self) -> bool:
            return self._heads > self._answered

        def _partial(self) -> bool:
            return self._in_head

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._heads += 1
            super().on_headers_complete()
            if self.cycle is not None:  # its task has not run yet: nothing is written
                self.cycle.transport = OneWrite(self.transport, self.loop)
            self._request_came()

        def on_response_complete(self) -> None:
            self._answered += 1
            super().on_response_complete()


def raw_response(status: int, message: str, *, retry_after: int | None = None) -> bytes:
    """A whole JSON error response, written to the socket before the connection closes."""
    body = error_body(message)
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
