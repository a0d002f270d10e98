"""What a notebook service serves: its own ``app`` (ASGI or WSGI), or its ``predict`` function.

Every served notebook answers ``GET <readiness_path>`` with 200 ``{"status": "ok"}``,
and is served within the limits of :mod:`bodywork_runner.limits` (body size, JSON depth);
what it refuses, and what fails in it, is answered as JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, cast

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bodywork_runner.batching import Batcher, BatchError
from bodywork_runner.errors import BadInput
from bodywork_runner.limits import TooDeep, error_body, guard, load_json
from bodywork_runner.spec import ServiceSettings

log = logging.getLogger(__name__)

Interface = Literal["asgi3", "wsgi"]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_HEALTHY = b'{"status": "ok"}'

#: a body up to this size is parsed on the event loop (a thread hop costs more than that)
INLINE_JSON_BYTES = 64 * 1024
#: a plain ``def predict`` that takes less than this on average runs on the event loop, as a
#: hand-written ``async def`` endpoint would: handing it to a thread costs more than it
#: takes; a slower one runs in the thread pool, so that other connections go on meanwhile
INLINE_PREDICT_SECONDS = 0.001
#: the weight of the last call in the moving average of a predict's time
_PACE_WEIGHT = 0.1
#: a call on the loop waited (I/O, a lock, the machine's other processes) when its wall
#: time is over its CPU time by the bar; a predict leaves the loop when most calls wait
#: (a share over this), not when one was preempted
_WAITS_MOST = 0.5
_WAITS_WEIGHT = 0.25
#: a predict in the thread pool is tried on the loop again after this many calls (then,
#: while the tries find it slow, twice as many each time, up to the most)
PROBE_EVERY = 64
_PROBE_EVERY_MOST = 8192
#: a try on the loop whose wall time is over this fails, whatever its CPU time (a predict
#: that waits, on I/O or a lock, is not cheap for the loop)
_PROBE_WALL_MOST = 10 * INLINE_PREDICT_SECONDS
#: a predict back on the loop after a try that leaves it again within this many calls:
#: the try counts as failed
_SHORT_STAY = 8


def build_app(namespace: Mapping[str, Any], settings: ServiceSettings) -> tuple[Any, Interface]:
    """The app to serve from a notebook's namespace, and its interface for uvicorn.

    Always ASGI, inside the limits' guard: a WSGI app goes behind uvicorn's own adapter
    here rather than in uvicorn, so that its body is bounded as it arrives.
    """
    app = namespace.get("app")
    if app is not None and settings.batch_max_size:
        raise BadInput(
            "service.batch batches calls of the predict function, and the notebook defines "
            "`app`, which is served as it is - remove service.batch, or the `app`"
        )
    if app is not None:
        if not callable(app):
            raise BadInput("the notebook's `app` is not an ASGI or WSGI application")
        if is_asgi(app):
            log.info("serving the notebook's ASGI app")
            return guard(asgi_with_readiness(app, settings.readiness_path), settings), "asgi3"
        log.info("serving the notebook's WSGI app")
        served = _wsgi_adapter(wsgi_with_readiness(app, settings.readiness_path))
        return guard(served, settings, lifespan=False), "asgi3"
    predict = namespace.get(settings.predict_function)
    if callable(predict):
        batcher = None
        if settings.batch_max_size:
            batcher = Batcher(predict, settings.batch_max_size, settings.batch_max_wait_ms / 1000)
            log.info(
                "serving %s() as POST /predict, in batches of at most %d (waiting at most %g ms)",
                settings.predict_function, settings.batch_max_size, settings.batch_max_wait_ms,
            )  # fmt: skip
        else:
            log.info("serving %s() as POST /predict", settings.predict_function)
        app = predict_app(predict, settings.readiness_path, batcher)
        return guard(app, settings, lifespan=False), "asgi3"
    raise BadInput(
        f"the notebook defines neither `app` nor `{settings.predict_function}` - define one"
    )


def is_asgi(app: Any) -> bool:
    if hasattr(app, "wsgi_app"):  # Flask
        return False
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(type(app).__call__)


def asgi_with_readiness(app: ASGIApp, path: str) -> ASGIApp:
    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == path and scope["method"] in {"GET", "HEAD"}:
            await _healthy()(scope, receive, send)
        else:
            await app(scope, receive, send)

    return served


def wsgi_with_readiness(app: WSGIApp, path: str) -> WSGIApp:
    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == path and environ.get("REQUEST_METHOD") in {"GET", "HEAD"}:
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(_HEALTHY)))],
            )
            return [_HEALTHY]
        return app(environ, start_response)

    return served


def _wsgi_adapter(app: WSGIApp) -> ASGIApp:
    """The adapter uvicorn itself puts in front of a WSGI app (a2wsgi's when installed)."""
    from uvicorn.middleware import wsgi

    adapter = cast(Callable[[WSGIApp], ASGIApp], wsgi.WSGIMiddleware)  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        # uvicorn's own WSGI adapter is deprecated, and still the lightest way to serve Flask
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="uvicorn")
        return adapter(app)


def predict_app(
    predict: Callable[..., Any], readiness_path: str, batcher: Batcher | None = None
) -> ASGIApp:
    """``POST /predict``: the JSON body goes to ``predict``, its result comes back as JSON.
    With a ``batcher``, the body goes to ``predict`` in a list with others (``batching``).

    The body arrives bounded in size (the guard); its depth is checked before it is parsed.
    Two fixed routes, so plain ASGI rather than a framework's router and middleware: every
    request of a service goes through here, and what it costs is the service's overhead.
    """
    is_async = inspect.iscoroutinefunction(predict)
    name = getattr(predict, "__name__", "predict")
    pace = Pace(predict)
    answers = f"this service answers POST /predict and GET {readiness_path}"

    async def prediction(body: bytes) -> tuple[int, bytes]:
        try:
            if len(body) <= INLINE_JSON_BYTES:
                payload = load_json(body)
            else:  # off the event loop: a 10 MB body takes a while, other connections go on
                payload = await run_in_threadpool(load_json, body)
        except TooDeep as exc:
            return 400, error_body(str(exc))
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, error_body(f"the request body is not valid JSON: {exc}")
        try:
            if batcher is not None:
                result = await batcher.submit(payload)
            elif is_async:
                result = await predict(payload)
            elif (place := pace.place()) != "thread":
                result = pace.call(payload, place)
            else:
                result = await run_in_threadpool(pace.call, payload, place)
        except BatchError as exc:
            log.error("%s", exc)
            return 500, error_body(str(exc))
        except Exception as exc:
            # the type and message for the client; the traceback only in the service's log
            log.exception("%s() raised %s", name, type(exc).__name__)
            return 500, error_body(f"{name}() raised {type(exc).__name__}: {exc}")
        try:
            return 200, json.dumps(to_jsonable(result), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            return 500, error_body(f"the prediction could not be turned into JSON: {exc}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        path, method = scope["path"], scope["method"]
        if path == "/predict" and method == "POST":
            body = await _read_body(receive)
            if body is not None:  # None: the client left
                await _send_json(send, *await prediction(body))
        elif path == readiness_path and method in {"GET", "HEAD"}:
            await _send_json(send, 200, _HEALTHY, head=method == "HEAD")
        elif path in {"/predict", readiness_path}:
            allow = b"POST" if path == "/predict" else b"GET, HEAD"
            message = f"Method Not Allowed: {method} {path} - {answers}"
            await _send_json(send, 405, error_body(message), headers=[(b"allow", allow)])
        else:
            await _send_json(send, 404, error_body(f"Not Found: {method} {path} - {answers}"))

    return app


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (a body in one message is not copied), or None on a
    disconnect."""
    message = await receive()
    chunks: list[bytes] = []
    while True:
        if message["type"] == "http.disconnect":
            return None
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return b"".join([*chunks, body]) if chunks else body
        chunks.append(body)
        message = await receive()


async def _send_json(
    send: Send,
    status: int,
    body: bytes,
    *,
    head: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


#: where a plain predict's call runs: on the loop, on the loop as a try, in a thread
Place = Literal["loop", "probe", "thread"]


class Pace:
    """Where a plain predict runs: on the event loop while the moving average of its CPU
    time there is under ``INLINE_PREDICT_SECONDS`` and most of its calls do not wait, in the
    thread pool otherwise (its time is unknown at first, so the first call goes to the
    thread pool, judged as a try is).

    On the loop a call is judged by its CPU time, which is what it costs the other
    connections: its wall time also counts the machine's preemptions (2 cores shared with
    the load generator and the other replica), and one preempted call would send a cheap
    predict to the thread pool. A predict that waits (I/O, a lock) is told apart by its
    calls: most of them wait, where preemptions hit a few.

    Timed in the thread pool, a call also counts its waits for the GIL, which the event
    loop holds while it serves other connections, and the machine's preemptions: under
    load a cheap predict looks expensive there and would stay there (the thread pool's own
    cost, 0.5-0.8x). So a predict in the thread pool is tried on the loop every
    ``PROBE_EVERY`` calls, judged by its CPU time (what it costs the loop) with a bound on
    its wall time (a predict that waits is not cheap for the loop). A try under the bar
    brings it back; a try over it, or a stay on the loop that ends within a few calls,
    doubles the wait for the next try (a slow predict blocks the loop once in thousands of
    calls).
    """

    def __init__(self, predict: Callable[..., Any]) -> None:
        self._predict = predict
        self.average: float | None = None
        self.waits = 0.0  # the moving share of calls on the loop that waited
        self._calls = 0
        self._probe_every = PROBE_EVERY
        self._stay: int | None = None  # calls on the loop since a try brought it back

    @property
    def inline(self) -> bool:
        return (
            self.average is not None
            and self.average < INLINE_PREDICT_SECONDS
            and self.waits < _WAITS_MOST
        )

    def place(self) -> Place:
        """Where the next call runs: ``loop``, ``probe`` (on the loop, a try) or ``thread``."""
        if self.inline:
            return "loop"
        if self.average is None:
            return "thread"
        self._calls += 1
        if self._calls < self._probe_every:
            return "thread"
        self._calls = 0
        return "probe"

    def call(self, payload: Any, place: Place = "loop") -> Any:
        # CPU time (a syscall, 0.6 us) where it judges the call: not in the thread pool,
        # where calls are judged by their wall time until a try on the loop
        judged = place != "thread" or self.average is None
        cpu = time.thread_time() if judged else 0.0
        started = time.perf_counter()
        try:
            return self._predict(payload)
        finally:
            seconds = time.perf_counter() - started
            self.record(seconds, place, time.thread_time() - cpu if judged else None)

    def record(self, seconds: float, place: Place = "loop", cpu: float | None = None) -> None:
        """A call's wall time where it ran, and its CPU time where it was timed (on the
        loop, a try, the first call)."""
        first = place == "thread" and self.average is None
        if place == "probe" or first:  # the first call, in a thread, is a try too
            cost = cpu if cpu is not None else seconds
            if seconds < _PROBE_WALL_MOST and cost < INLINE_PREDICT_SECONDS:
                self.average, self._stay = cost, 0
                self.waits = _WAITS_WEIGHT if seconds - cost >= INLINE_PREDICT_SECONDS else 0.0
                return
            if not first:
                self._back_off()
                return
        if place == "thread" and self.inline:
            return  # a call sent to a thread before a try brought the predict back
        # on the loop, its CPU time (when timed) and whether it waited; in threads, its time
        cost = cpu if cpu is not None and place == "loop" else seconds
        last = self.average
        self.average = cost if last is None else last + _PACE_WEIGHT * (cost - last)
        if place == "loop":
            waited = 1.0 if seconds - cost >= INLINE_PREDICT_SECONDS else 0.0
            self.waits += _WAITS_WEIGHT * (waited - self.waits)
        if self._stay is not None and place == "loop":
            self._stay += 1
            if not self.inline and self._stay <= _SHORT_STAY:
                self._back_off()  # back to threads at once: the try misjudged it
            elif self.inline and self._stay > _SHORT_STAY:
                self._stay, self._probe_every = None, PROBE_EVERY  # it stays: tries were right

    def _back_off(self) -> None:
        self._stay = None
        self._probe_every = min(self._probe_every * 2, _PROBE_EVERY_MOST)


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars and pandas objects turned into plain Python."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and hasattr(value, "to_dict"):
        if type(value).__name__ == "DataFrame":
            return to_jsonable(value.to_dict(orient="records"))
        return to_jsonable(value.to_dict())
    if hasattr(value, "tolist"):  # numpy arrays and numpy scalars
        return to_jsonable(value.tolist())
    if hasattr(value, "item"):
        return to_jsonable(value.item())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _healthy() -> Response:
    return Response(_HEALTHY, media_type="application/json")
