"""A notebook service that is stopped drains: the runner and uvicorn on loopback.

A replica replaced by a redeploy gets SIGTERM. What it has in hand is answered, and each
kept-alive connection's next answer says ``Connection: close``, so its client reconnects
(to the new version) instead of losing a request sent as the old one closed.
"""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path

from runner_helpers import RunningRunner, make_spec, write_notebook

from bodywork_runner.limits import DRAIN_IDLE_SECONDS
from tests.projects import free_port

#: never cheap (10 ms at least), so it runs in the thread pool and the event loop sees the
#: stop while a call is under way (a cheap predict runs on the loop: serving.Pace)
PREDICT = """\
import time

def predict(payload):
    time.sleep(float(payload.get("sleep", 0.01)))
    return {"ok": True}
"""


def _post(conn: http.client.HTTPConnection, body: str) -> http.client.HTTPResponse:
    conn.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response


def test_a_stopped_replica_answers_its_kept_alive_connections_then_closes_them(
    tmp_path: Path,
) -> None:
    write_notebook(tmp_path / "project" / "predict.ipynb", PREDICT)
    settings = {"port": free_port(), "host": "127.0.0.1"}
    spec = make_spec(
        tmp_path / "project", "predict.ipynb", tmp_path, kind="service", service=settings
    )
    runner = RunningRunner(spec, tmp_path)
    url = runner.wait_for("service.ready", timeout=60)["url"]
    host, port = url.removeprefix("http://").split(":")
    idle = http.client.HTTPConnection(host, int(port), timeout=10)
    busy = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for conn in (idle, busy):
            first = _post(conn, "{}")
            assert first.status == 200 and first.getheader("connection") is None  # kept alive
        # one request under way when the stop comes, one connection idle between requests
        busy.request(
            "POST", "/predict", body='{"sleep": 1.5}', headers={"content-type": "application/json"}
        )
        time.sleep(0.3)
        runner.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # the idle one may send one more request within the drain's grace: answered, last
        last = _post(idle, "{}")
        assert last.status == 200 and last.getheader("connection") == "close"
        under_way = busy.getresponse()
        under_way.read()
        assert under_way.status == 200
        assert under_way.getheader("connection") == "close"
        assert runner.finish(timeout=20) == 0, runner.log()
    finally:
        for conn in (idle, busy):
            conn.close()
        runner.stop()


def test_a_connection_left_idle_is_closed_after_the_grace(tmp_path: Path) -> None:
    write_notebook(tmp_path / "project" / "predict.ipynb", PREDICT)
    settings = {"port": free_port(), "host": "127.0.0.1"}
    spec = make_spec(
        tmp_path / "project", "predict.ipynb", tmp_path, kind="service", service=settings
    )
    runner = RunningRunner(spec, tmp_path)
    try:
        url = runner.wait_for("service.ready", timeout=60)["url"]
        host, port = url.removeprefix("http://").split(":")
        idle = http.client.HTTPConnection(host, int(port), timeout=10)
        assert _post(idle, "{}").status == 200
        started = time.monotonic()
        runner.process.send_signal(signal.SIGTERM)
        assert runner.finish(timeout=20) == 0, runner.log()
        took = time.monotonic() - started
        # it waited for the idle connection's grace, and not for uvicorn's 10 s
        assert DRAIN_IDLE_SECONDS * 0.8 <= took < DRAIN_IDLE_SECONDS + 5, took
        idle.close()
    finally:
        runner.stop()


def test_with_a_stop_delay_new_connections_are_answered_a_while_after_the_stop(
    tmp_path: Path,
) -> None:
    """On a cluster (stop_delay_seconds): the pod's address is still used for a moment
    after the stop comes, while it leaves the Service's endpoints."""
    write_notebook(tmp_path / "project" / "predict.ipynb", PREDICT)
    settings = {"port": free_port(), "host": "127.0.0.1", "stop_delay_seconds": 1.5}
    spec = make_spec(
        tmp_path / "project", "predict.ipynb", tmp_path, kind="service", service=settings
    )
    runner = RunningRunner(spec, tmp_path)
    try:
        url = runner.wait_for("service.ready", timeout=60)["url"]
        host, port = url.removeprefix("http://").split(":")
        started = time.monotonic()
        runner.process.send_signal(signal.SIGTERM)
        time.sleep(0.8)
        late = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            answer = _post(late, "{}")  # a new connection, after the stop: still answered
            assert answer.status == 200 and answer.getheader("connection") == "close"
        finally:
            late.close()
        assert runner.finish(timeout=20) == 0, runner.log()
        assert time.monotonic() - started >= 1.5
        stopped = [e for e in runner.events if e["event"] == "service.stopped"]
        assert stopped, runner.log()
    finally:
        runner.stop()
