"""The load generator of the fault suite (tests/load.py) counts what a real client loses.

Against small servers on loopback that answer, close, or are not there at all.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.load import Answer, Load, Report
from tests.projects import free_port


class _Counting(ThreadingHTTPServer):
    daemon_threads = True
    requests = 0
    connections = 0
    close_every = 0  # every n-th answer says Connection: close
    cut_after = 0  # from the n-th request on, close without answering


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Counting

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.requests += 1
        number = self.server.requests
        if self.server.cut_after and number >= self.server.cut_after:
            self.close_connection = True
            return  # no answer: the client's request dies
        body = json.dumps({"version": 7, "pid": number}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        if self.server.close_every and number % self.server.close_every == 0:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def server(**settings: int) -> Iterator[_Counting]:
    httpd = _Counting(("127.0.0.1", 0), _Handler)
    for name, value in settings.items():
        setattr(httpd, name, value)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def url(httpd: _Counting) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/predict"


def test_keep_alive_clients_reuse_their_connection_until_told_to_close() -> None:
    with server(close_every=5) as httpd:
        report = Load(url(httpd), threads=2, max_requests=40).start().stop_when_capped()
    assert (report.sent, report.failed, report.capped) == (40, 0, "max_requests")
    assert httpd.requests == 40
    assert sum(a.closed for a in report.answers) == 40 // 5
    # one connection per client, and a new one after each Connection: close
    assert 2 + 40 // 5 - 2 <= httpd.connections <= 2 + 40 // 5
    assert report.versions_seen == [7]


def test_a_pool_recycles_its_connections_between_requests() -> None:
    with server() as httpd:
        load = Load(url(httpd), threads=1, max_requests=20, requests_per_connection=5)
        report = load.start().stop_when_capped()
    assert (report.sent, report.failed, httpd.connections) == (20, 0, 4)


def test_a_refused_connection_is_a_failure_and_is_not_retried() -> None:
    load = Load(f"http://127.0.0.1:{free_port()}/", threads=1, max_requests=5)
    report = load.start().stop_when_capped()
    assert (report.sent, report.failed) == (5, 5)
    assert report.failures == {"ConnectionRefusedError": 5}
    assert report.seconds_down == pytest.approx(report.duration)
    assert report.versions_seen == []


def test_a_request_the_server_closes_on_is_lost_once() -> None:
    with server(cut_after=4) as httpd:
        report = Load(url(httpd), threads=1, max_requests=6).start().stop_when_capped()
    assert httpd.requests == 6  # none sent twice
    assert report.failed == 3 and set(report.failures) == {"RemoteDisconnected"}


def test_a_server_closing_an_idle_connection_costs_nothing() -> None:
    """A kept-alive connection closed between answers is noticed before it is reused."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def answer_once_each() -> None:
            for _ in range(3):
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    body = b'{"version": 1}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                    )  # no Connection: close, and then closed

        thread = threading.Thread(target=answer_once_each, daemon=True)
        thread.start()
        load = Load(f"http://127.0.0.1:{port}/", threads=1, max_requests=3, interval=0.2)
        report = load.start().stop_when_capped()
        thread.join(5)
    assert (report.sent, report.failed) == (3, 0), report.describe()


def test_a_naive_client_loses_a_request_on_a_connection_closed_between_answers() -> None:
    """As wrk does: it reuses the connection without looking, so the next request dies."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def answer_then_close() -> None:
            conn, _ = listener.accept()
            with conn:
                if conn.recv(65536):
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")

        thread = threading.Thread(target=answer_then_close, daemon=True)
        thread.start()
        load = Load(f"http://127.0.0.1:{port}/", threads=1, naive=1, max_requests=2, interval=0.2)
        report = load.start().stop_when_capped()
        thread.join(5)
    assert (report.sent, report.failed) == (2, 1), report.describe()


def test_the_load_stops_by_itself() -> None:
    with server() as httpd:
        load = Load(url(httpd), threads=2, max_seconds=0.5, interval=0.01)
        report = load.start().stop_when_capped(timeout=5)
    assert report.capped == "max_seconds" and report.duration == pytest.approx(0.5, abs=0.2)


def test_only_this_machine_is_loaded() -> None:
    with pytest.raises(ValueError, match="this machine only"):
        Load("http://example.com/predict")


def test_seconds_down_and_the_timeline() -> None:
    answers = (
        Answer(0, 0.0, 0.1, 200, version=1),
        Answer(1, 0.1, 0.2, 200, version=1),
        Answer(0, 0.2, 1.5, None, "ConnectionRefusedError"),
        Answer(1, 0.3, 2.0, 200, version=2),
        Answer(0, 1.6, 1.7, 503),
        Answer(1, 2.0, 2.1, 200, version=2),
    )
    report = Report(answers, duration=3.0)
    assert (report.sent, report.failed) == (6, 2)
    assert report.failures == {"ConnectionRefusedError": 1, "HTTP 503": 1}
    assert report.seconds_down == pytest.approx(1.8)  # 0.2 -> 2.0
    assert [(s.version, s.count) for s in report.timeline] == [(1, 2), (2, 2)]
    assert report.versions_between(0.3) == {2}
    assert Report((), duration=2.0).seconds_down == 2.0
