"""A served notebook's limits, against the real runner and uvicorn on loopback.

Huge and deeply nested bodies, slow headers and more connections than the limit: each is
refused with a JSON error, the replica's memory stays bounded, and it keeps answering.
Every socket has a timeout, so nothing here waits longer than a few seconds.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner_helpers import RunningRunner, make_spec, runner_env, write_notebook
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bodywork_runner.limits import (
    EVICTABLE_AFTER,
    HTTP_ENV,
    MAX_JSON_DEPTH,
    depth_within,
    guarded_protocol,
)
from bodywork_runner.spec import ServiceSettings
from tests.projects import free_port

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MAX_CONNECTIONS = 8
MB = 1_000_000

PREDICT = """\
def predict(payload):
    if isinstance(payload, dict) and payload.get("boom"):
        raise RuntimeError("model exploded")
    return {"items": len(payload)}
"""


class Service:
    def __init__(self, runner: RunningRunner, url: str) -> None:
        self.runner = runner
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)

    def rss(self) -> int:
        return int(psutil.Process(self.runner.process.pid).memory_info().rss)

    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        sock.settimeout(10)
        return sock

    def call(self, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, Any]:
        with self.connect() as sock:
            sock.sendall(_request(method, path, body, **headers))
            return _parse(_read_all(sock))


def _request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    fields = {"Host": "localhost", "Content-Length": str(len(body)), **headers}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or, kept alive, one whole response)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data  # closed with our unread bytes in its buffer: what came is kept
        if not chunk:
            return data
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = [
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ]
        if length and len(body) >= length[0]:
            return data


def _parse(raw: bytes) -> tuple[int, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head, "the server sent nothing"
    status = int(head.split()[1])
    assert b"content-type: application/json" in head.lower(), raw[:300]
    return status, json.loads(body)


@pytest.fixture(scope="module", params=["httptools", "h11"])
def service(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Service]:
    """The same limits with either of uvicorn's HTTP parsers (httptools by default)."""
    tmp = tmp_path_factory.mktemp("limits")
    write_notebook(tmp / "project" / "predict.ipynb", PREDICT)
    settings = {
        "port": free_port(),
        "host": "127.0.0.1",
        "header_timeout_seconds": HEADER_TIMEOUT,
        "body_timeout_seconds": BODY_TIMEOUT,
        "max_connections": MAX_CONNECTIONS,
    }  # max_body_bytes: the default, 10 MB
    spec = make_spec(tmp / "project", "predict.ipynb", tmp, kind="service", service=settings)
    runner = RunningRunner(spec, tmp, env=runner_env(**{HTTP_ENV: request.param}))
    try:
        yield Service(runner, runner.wait_for("service.ready", timeout=60)["url"])
        runner.process.send_signal(signal.SIGTERM)
        assert runner.finish(timeout=20) == 0, runner.log()
    finally:
        runner.stop()


def test_httptools_parses_unless_h11_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServiceSettings(port=5000)
    assert issubclass(guarded_protocol(settings), HttpToolsProtocol)
    monkeypatch.setenv(HTTP_ENV, "h11")
    assert issubclass(guarded_protocol(settings), H11Protocol)


def _send_body(sock: socket.socket, size: int, *, chunked: bool) -> int:
    """Sends up to ``size`` bytes of body until the server stops taking them."""
    piece = b"1," * 32768
    sent = 0
    try:
        while sent < size:
            data = piece if not chunked else b"%x\r\n%s\r\n" % (len(piece), piece)
            sock.sendall(data)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_a_50_mb_body_is_refused_without_the_replica_growing(service: Service) -> None:
    assert service.call("POST", "/predict", b"[1, 2, 3]") == (200, {"items": 3})
    before = service.rss()
    started = time.monotonic()
    for chunked in (False, True, False, True):
        with service.connect() as sock:
            if chunked:  # no Content-Length: the body is counted as it arrives
                head = _request("POST", "/predict", **{"Transfer-Encoding": "chunked"})
                sock.sendall(head.replace(b"Content-Length: 0\r\n", b""))
            else:  # refused on its headers
                sock.sendall(_request("POST", "/predict", **{"Content-Length": str(50 * MB)}))
            sent = _send_body(sock, 50 * MB, chunked=chunked)
            status, body = _parse(_read_all(sock))
        assert status == 413, body
        assert "larger than the service's limit of 10 MB" in body["error"]
        assert sent < 50 * MB  # the server stopped reading: the rest never went out
    elapsed = time.monotonic() - started
    after = service.rss()
    print(f"RSS before {before / MB:.1f} MB, after 4 x 50 MB bodies {after / MB:.1f} MB")
    assert elapsed < 20
    assert after - before < 64 * MB
    assert service.call("POST", "/predict", b"[1]") == (200, {"items": 1})


def test_a_client_that_waits_for_100_continue_sends_no_body(service: Service) -> None:
    with service.connect() as sock:
        sock.sendall(
            _request(
                "POST", "/predict", **{"Content-Length": str(50 * MB), "Expect": "100-continue"}
            )
        )
        status, body = _parse(_read_all(sock))
    assert status == 413 and "max_body_mb" in body["error"]


def test_a_body_just_under_the_limit_is_served(service: Service) -> None:
    body = b"[" + b"1," * (4 * MB) + b"1]"  # 8 MB
    assert service.call("POST", "/predict", body) == (200, {"items": 4 * MB + 1})


def test_deep_nesting_is_a_400_and_never_parsed(service: Service) -> None:
    deep = 100_000
    status, body = service.call("POST", "/predict", b"[" * deep + b"]" * deep)
    assert status == 400 and f"more than {MAX_JSON_DEPTH} levels deep" in body["error"]
    limit = MAX_JSON_DEPTH
    status, body = service.call("POST", "/predict", b"[" * (limit + 1) + b"]" * (limit + 1))
    assert status == 400
    assert service.call("POST", "/predict", b"[" * limit + b"]" * limit) == (200, {"items": 1})
    unclosed = service.call("POST", "/predict", b'{"a": "' + b"[" * deep)
    assert unclosed[0] == 400 and "not valid JSON" in unclosed[1]["error"]


def test_slow_headers_are_dropped_after_the_timeout(service: Service) -> None:
    started = time.monotonic()
    with service.connect() as partial, service.connect() as silent, service.connect() as drip:
        partial.sendall(b"POST /predict HTT")
        drip.sendall(b"POST /predict HTTP/1.1\r\nx-slow: ")
        # a byte every 0.2 s (of a valid header) does not keep the headers alive: dropped
        # all the same
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while time.monotonic() - started < HEADER_TIMEOUT + 5:
                time.sleep(0.2)
                drip.sendall(b"a")
        dropped = time.monotonic() - started
        status, body = _parse(_read_all(partial))
        assert status == 408 and "did not arrive within 2 s" in body["error"]
        assert _read_all(silent) == b""  # nothing was asked: closed without an answer
    assert HEADER_TIMEOUT * 0.9 < dropped < HEADER_TIMEOUT + 2
    assert service.call("POST", "/predict", b"[]") == (200, {"items": 0})


def test_a_trickled_body_is_dropped_after_the_body_timeout(service: Service) -> None:
    """Headers in at once, then a byte of body every 0.2 s: each byte keeps the connection
    busy, so only the body timeout (from the headers) ends it."""
    body = b"[" + b"1," * 1000 + b"1]"
    with service.connect() as drip, service.connect() as steady:
        started = time.monotonic()
        drip.sendall(_request("POST", "/predict", body)[: -len(body)])
        # a slow body that does arrive within the timeout is served
        steady.sendall(_request("POST", "/predict", body)[: -len(body)])
        for piece in (body[:10], body[10:-1], body[-1:]):
            time.sleep(0.5)
            steady.sendall(piece)
        assert _parse(_read_all(steady)) == (200, {"items": 1001})
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for byte in body:
                if time.monotonic() - started > BODY_TIMEOUT + 5:
                    break
                time.sleep(0.2)
                drip.sendall(bytes([byte]))
        dropped = time.monotonic() - started
        status, answer = _parse(_read_all(drip))
    assert status == 408 and "body did not arrive within 3 s of its headers" in answer["error"]
    assert BODY_TIMEOUT * 0.9 < dropped < BODY_TIMEOUT + 2
    assert service.call("POST", "/predict", b"[]") == (200, {"items": 0})


def test_held_connections_give_way_and_the_service_keeps_answering(service: Service) -> None:
    held = [service.connect() for _ in range(MAX_CONNECTIONS)]
    for sock in held:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # headers never finished
    try:
        time.sleep(0.1)  # the server has accepted them all
        # they have not waited long yet: a new connection is refused, at once
        status, body = service.call("POST", "/predict", b"[1]")
        assert status == 503
        assert f"at its limit of {MAX_CONNECTIONS} connections" in body["error"]
        # once they have waited, each new connection takes the place of one of them
        time.sleep(EVICTABLE_AFTER)
        for _ in range(MAX_CONNECTIONS):
            sock = service.connect()
            held.append(sock)  # kept open: the next one needs another place
            sock.sendall(_request("POST", "/predict", b"[1]"))
            assert _parse(_read_all(sock)) == (200, {"items": 1})
        for sock in held[:MAX_CONNECTIONS]:
            status, body = _parse(_read_all(sock))
            assert status == 408 and "connection limit" in body["error"]
    finally:
        for sock in held:
            sock.close()
    assert service.call("POST", "/predict", b"[2]") == (200, {"items": 1})


def test_connections_over_the_limit_with_requests_under_way_get_503(service: Service) -> None:
    # each has sent its headers and is sending its body: busy, never given away
    busy = [service.connect() for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in busy:
            sock.sendall(_request("POST", "/predict", **{"Content-Length": "10"}) + b"[1,")
        time.sleep(EVICTABLE_AFTER + 0.2)
        refused = [service.call("POST", "/predict", b"[1]") for _ in range(20)]
        assert {status for status, _ in refused} == {503}
        assert refused[0][1]["error"].startswith(
            f"the service is at its limit of {MAX_CONNECTIONS} connections, none of them idle"
        )
    finally:
        for sock in busy:
            sock.close()
    deadline = time.monotonic() + 5
    while (answer := service.call("POST", "/predict", b"[1]"))[0] == 503:
        assert time.monotonic() < deadline, "still refusing after the busy ones went"
        time.sleep(0.05)
    assert answer == (200, {"items": 1})


def test_errors_are_json_and_carry_no_traceback(service: Service) -> None:
    status, body = service.call("POST", "/predict", b'{"boom": true}')
    assert status == 500
    assert body == {"error": "predict() raised RuntimeError: model exploded"}
    status, body = service.call("GET", "/nowhere")
    assert status == 404 and "POST /predict" in body["error"]
    status, body = service.call("GET", "/predict")
    assert status == 405
    status, body = service.call("POST", "/predict", b"{nope")
    assert status == 400 and "not valid JSON" in body["error"]
    with service.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, body = _parse(_read_all(sock))
    assert status == 400 and "not valid HTTP" in body["error"]
    assert "Traceback" in "".join(service.runner.stderr)  # the traceback is in the log only


def test_a_flask_app_is_served_within_the_body_limit(tmp_path: Path, background: list) -> None:
    write_notebook(
        tmp_path / "project" / "app.ipynb",
        "from flask import Flask, jsonify, request\napp = Flask('demo')",
        "@app.post('/echo')\ndef echo():\n    return jsonify({'bytes': len(request.get_data())})",
    )
    settings = {"port": free_port(), "host": "127.0.0.1", "max_body_bytes": 1000}
    spec = make_spec(tmp_path / "project", "app.ipynb", tmp_path, kind="service", service=settings)
    runner = RunningRunner(spec, tmp_path)
    background.append(runner)
    app = Service(runner, runner.wait_for("service.ready", timeout=60)["url"])

    assert app.call("POST", "/echo", b"x" * 1000) == (200, {"bytes": 1000})
    status, body = app.call("POST", "/echo", b"x" * 1001)
    assert status == 413 and "limit of 0.001 MB" in body["error"]
    with app.connect() as sock:
        head = _request("POST", "/echo", **{"Transfer-Encoding": "chunked"})
        sock.sendall(head.replace(b"Content-Length: 0\r\n", b""))
        _send_body(sock, 10 * MB, chunked=True)
        assert _parse(_read_all(sock))[0] == 413
    assert app.call("GET", "/healthz") == (200, {"status": "ok"})
    runner.process.send_signal(signal.SIGTERM)
    assert runner.finish(timeout=20) == 0


# -- the depth check itself, against the depth of the value it describes -----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(json_values)
def test_depth_within_agrees_with_the_parsed_value(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    depth = _depth(value)
    assert depth_within(text, depth)
    if depth:
        assert not depth_within(text, depth - 1)


def test_depth_within_is_linear_on_a_hostile_10_mb() -> None:
    hostile = {
        "one deep chain": "[" * 5 * MB + "]" * 5 * MB,
        "many chains just under": "[" + ",".join(["[" * 99 + "]" * 99] * 50_000) + "]",
        "stairs": "[[]" * 3 * MB,
        "escaped quotes": '["' + '\\"[' * 3 * MB + '"]',
    }
    for name, text in hostile.items():
        started = time.monotonic()
        depth_within(text, MAX_JSON_DEPTH)
        assert time.monotonic() - started < 5, name
