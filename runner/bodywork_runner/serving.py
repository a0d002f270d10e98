"""What a notebook service serves: its own ``app`` (ASGI or WSGI), or its ``predict`` function.

Every served notebook answers ``GET <readiness_path>`` with 200 ``{"status": "ok"}``,
and is served within the limits of :mod:`bodywork_runner.limits` (body size, JSON depth);
what it refuses, and what fails in it, is answered as JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bodywork_runner.batching import Batcher, BatchError
from bodywork_runner.errors import BadInput
from bodywork_runner.limits import TooDeep, guard, load_json
from bodywork_runner.spec import ServiceSettings

log = logging.getLogger(__name__)

Interface = Literal["asgi3", "wsgi"]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_HEALTHY = b'{"status": "ok"}'


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
        return guard(app, settings), "asgi3"
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
) -> Starlette:
    """``POST /predict``: the JSON body goes to ``predict``, its result comes back as JSON.
    With a ``batcher``, the body goes to ``predict`` in a list with others (``batching``).

    The body arrives bounded in size (the guard); its depth is checked before it is parsed.
    """
    is_async = inspect.iscoroutinefunction(predict)
    name = getattr(predict, "__name__", "predict")

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        try:
            # off the event loop: a 10 MB body takes a while, other connections go on
            payload = await run_in_threadpool(load_json, body)
        except TooDeep as exc:
            return _error(400, str(exc))
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"the request body is not valid JSON: {exc}")
        try:
            if batcher is not None:
                result = await batcher.submit(payload)
            elif is_async:
                result = await predict(payload)
            else:
                result = await run_in_threadpool(predict, payload)
        except BatchError as exc:
            log.error("%s", exc)
            return _error(500, str(exc))
        except Exception as exc:
            # the type and message for the client; the traceback only in the service's log
            log.exception("%s() raised %s", name, type(exc).__name__)
            return _error(500, f"{name}() raised {type(exc).__name__}: {exc}")
        try:
            text = json.dumps(to_jsonable(result), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            return _error(500, f"the prediction could not be turned into JSON: {exc}")
        return Response(text, media_type="application/json")

    async def ready(request: Request) -> Response:
        return _healthy()

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's 404 and 405 are plain text; say what this service answers instead
        assert isinstance(exc, HTTPException)
        message = (
            f"{exc.detail}: {request.method} {request.url.path} - this service answers "
            f"POST /predict and GET {readiness_path}"
        )
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    return Starlette(
        routes=[
            Route("/predict", endpoint, methods=["POST"]),
            Route(readiness_path, ready, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


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


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _healthy() -> Response:
    return Response(_HEALTHY, media_type="application/json")
