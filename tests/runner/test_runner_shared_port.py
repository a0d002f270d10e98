"""Replicas sharing one listening socket (the local target's declared port), and where a
plain ``predict`` runs (on the event loop when it is cheap, in the thread pool when not)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import RunningRunner, make_spec, runner_env, write_notebook

from bodywork_runner.serving import INLINE_PREDICT_SECONDS
from bodywork_runner.spec import SHARED_LISTENER_FD, TAKE_TRAFFIC
from tests.projects import free_port

PREDICT = """\
import os


def predict(request):
    return {"pid": os.getpid(), "x": request["x"]}
"""


@pytest.fixture
def shared() -> Iterator[socket.socket]:
    """The declared port's socket, as the local backend binds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(socket.SOMAXCONN)
    sock.set_inheritable(True)
    try:
        yield sock
    finally:
        sock.close()


def _replica(tmp: Path, sock: socket.socket, name: str) -> RunningRunner:
    write_notebook(tmp / "project" / "predict.ipynb", PREDICT)
    settings = {"port": free_port(), "host": "127.0.0.1"}
    spec = make_spec(tmp / "project", "predict.ipynb", tmp, kind="service", service=settings)
    spec["stage"] = name
    env = runner_env(**{SHARED_LISTENER_FD: str(sock.fileno())})
    runner = RunningRunner(spec, tmp, env=env, pass_fds=(sock.fileno(),))
    runner.wait_for("service.ready", timeout=60)
    return runner


def _post(port: int, x: int, timeout: float = 10) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"x": x}).encode(),
        headers={"content-type": "application/json", "connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _in_background(port: int, x: int) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []

    def call() -> None:
        try:
            answers.append(_post(port, x, timeout=30))
        except OSError as exc:
            answers.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread, answers


def test_replicas_take_the_shared_port_only_when_told_and_lose_nothing_in_between(
    tmp_path: Path, shared: socket.socket
) -> None:
    port = shared.getsockname()[1]
    first = _replica(tmp_path / "a", shared, "a")
    second: RunningRunner | None = None
    try:
        # ready, but not told: a request on the shared port waits in its backlog
        waiting, answers = _in_background(port, 1)
        time.sleep(0.5)
        assert answers == [], answers
        first.process.send_signal(TAKE_TRAFFIC)
        waiting.join(10)
        assert answers == [{"pid": first.process.pid, "x": 1}], first.log()
        assert _post(port, 2)["pid"] == first.process.pid

        # a second version, told to take over, then the first one stops: a request sent
        # while it stops is answered by the other
        second = _replica(tmp_path / "b", shared, "b")
        second.process.send_signal(TAKE_TRAFFIC)
        first.process.send_signal(signal.SIGTERM)
        assert first.finish(timeout=20) == 0, first.log()
        pids = {_post(port, x)["pid"] for x in range(5)}
        assert pids == {second.process.pid}, pids

        # nobody accepting: what arrives waits for the next replica told to take it
        second.process.send_signal(signal.SIGTERM)
        assert second.finish(timeout=20) == 0, second.log()
        waiting, answers = _in_background(port, 3)
        time.sleep(0.3)
        third = _replica(tmp_path / "c", shared, "c")
        try:
            third.process.send_signal(TAKE_TRAFFIC)
            waiting.join(10)
            assert answers == [{"pid": third.process.pid, "x": 3}], third.log()
        finally:
            third.process.send_signal(signal.SIGTERM)
            assert third.finish(timeout=20) == 0, third.log()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_replica_told_twice_or_while_it_stops_is_not_ended_by_the_signal(
    tmp_path: Path, shared: socket.socket
) -> None:
    runner = _replica(tmp_path, shared, "a")
    try:
        runner.process.send_signal(TAKE_TRAFFIC)
        runner.process.send_signal(TAKE_TRAFFIC)
        port = shared.getsockname()[1]
        assert _post(port, 1)["pid"] == runner.process.pid
        runner.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            runner.process.send_signal(TAKE_TRAFFIC)
        assert runner.finish(timeout=20) == 0, runner.log()
    finally:
        runner.stop()


# -- where a plain predict runs ------------------------------------------------------------

WHERE = """\
import asyncio
import time


def predict(request):
    time.sleep(request.get("sleep", 0))
    spin_until = time.thread_time() + request.get("spin", 0)
    while time.thread_time() < spin_until:
        pass
    try:
        asyncio.get_running_loop()
        return {"loop": True}
    except RuntimeError:
        return {"loop": False}
"""


def test_a_cheap_predict_runs_on_the_event_loop_and_a_slow_one_in_the_thread_pool(
    tmp_path: Path,
) -> None:
    write_notebook(tmp_path / "project" / "predict.ipynb", WHERE)
    settings = {"port": free_port(), "host": "127.0.0.1"}
    spec = make_spec(
        tmp_path / "project", "predict.ipynb", tmp_path, kind="service", service=settings
    )
    runner = RunningRunner(spec, tmp_path)
    try:
        url = runner.wait_for("service.ready", timeout=60)["url"] + "/predict"

        def where(**work: float) -> bool:
            request = urllib.request.Request(
                url, json.dumps(work).encode(), {"content-type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return bool(json.loads(response.read())["loop"])

        # its time is unknown at first: the first call goes to the thread pool, then cheap
        # calls run on the loop
        assert [where() for _ in range(4)] == [False, True, True, True]
        # calls that cost CPU: the average rises above the bar at once, and they go to the
        # thread pool
        slow = INLINE_PREDICT_SECONDS * 20
        assert [where(spin=slow) for _ in range(3)][1:] == [False, False]
        # cheap again: back on the loop once the average has come down, or (on a loaded
        # machine, where calls timed in threads look dear) at the next try on the loop
        places = [where() for _ in range(300)]
        assert places[0] is False and places[-1] is True, places
        # calls that wait (next to no CPU): most of them wait, so to the thread pool within
        # a few calls (a preempted call now and then would not move it)
        places = [where(sleep=slow) for _ in range(6)]
        assert places[0] is True and places[-2:] == [False, False], places
        runner.process.send_signal(signal.SIGTERM)
        assert runner.finish(timeout=20) == 0, runner.log()
    finally:
        runner.stop()
