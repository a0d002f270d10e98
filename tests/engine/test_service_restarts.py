"""A service that dies after it was ready: reported, restarted with backoff, shown failing.

Real supervisors, runners and services on this machine; each service dies when asked to
(a request), after it answered it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.engine.helpers import Bodywork, events, run_id_of
from tests.projects import free_port, git_commit, notebook, write_yaml

#: A notebook service: ``{"die": CODE}`` answers, prints a last line, then exits CODE.
DYING_NOTEBOOK = """
import os, threading

def predict(request):
    if "die" in request:
        def die():
            print(f"replica {os.getpid()} dies now", flush=True)
            os._exit(request["die"])
        threading.Timer(0.2, die).start()
    return {"pid": os.getpid()}
"""

#: A module service that binds its port itself: ``GET /die`` answers, then it exits 4.
DYING_MODULE = """
import os, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(str(os.getpid()).encode())
        if self.path == "/die":
            print("module dies on request", flush=True)
            threading.Timer(0.2, os._exit, [4]).start()

    def log_message(self, *args):
        pass

HTTPServer(("0.0.0.0", {port}), Handler).serve_forever()
"""


def post(url: str, payload: object, timeout: float = 5) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def answering(url: str, connections: int = 8) -> set[Any]:
    """The replicas (pids) that answer ``connections`` clients connecting at once: the
    replicas accept from the declared port's socket, and a lone client may find the same
    one every time."""
    with ThreadPoolExecutor(connections) as pool:
        return {a["pid"] for a in pool.map(lambda _: post(url, {}), range(connections))}


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def until(check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    """``check()``'s first true value within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s: {check} (last: {value!r})")


def listing(bw: Bodywork) -> str:
    result = bw("get", "deployments")
    assert result.returncode == 0, result.stderr
    return result.stdout


def status(bw: Bodywork, deployment: str) -> str:
    """The deployment's STATUS column in ``get deployments``."""
    return status_in(listing(bw), deployment)


def status_in(shown: str, deployment: str) -> str:
    for line in shown.splitlines():
        if line.split()[:1] == [deployment]:
            return line.split()[1]
    raise AssertionError(f"{deployment} is not listed:\n{shown}")


def failing(bw: Bodywork, deployment: str) -> str | None:
    """``get deployments`` once it shows ``deployment`` failing (None before)."""
    shown = listing(bw)
    return shown if status_in(shown, deployment) == "failing" else None


def service_events(bw: Bodywork, run_id: str) -> list[dict[str, object]]:
    return [e for e in events(bw, run_id) if str(e["type"]).startswith("service.")]


def test_a_dying_replica_is_reported_and_restarted_while_the_other_serves(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "p"
    port = free_port()
    notebook(project / "serve.ipynb", DYING_NOTEBOOK)
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: wobbly}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {port}, replicas: 2}}}}
        """,
    )
    git_commit(project)
    deployed = bw("deploy", project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run_id = run_id_of(deployed)
    url = f"http://127.0.0.1:{port}/predict"

    def both() -> set[Any] | None:
        found = answering(url)
        return found if len(found) == 2 else None

    pids: set[Any] = until(both, timeout=10)  # both replicas take connections

    dying = post(url, {"die": 3})["pid"]
    shown = until(lambda: failing(bw, "wobbly"))
    assert "serve: replica " in shown and "exited with code 3" in shown
    assert "restarting in 1s (restart 1)" in shown
    assert f"| replica {dying} dies now" in shown  # its last log lines
    # meanwhile the other replica answers every request
    answers = {post(url, {})["pid"] for _ in range(6)}
    assert answers == pids - {dying}

    # restarted: serving again, through a new process in its place
    until(lambda: status(bw, "wobbly") == "serving")
    new_pids = until(lambda: answering(url) - pids, timeout=10)
    assert len(new_pids) == 1
    history = service_events(bw, run_id)
    assert [e["type"] for e in history] == [
        "service.exited", "service.restarted", "service.recovered"
    ]  # fmt: skip
    exited = history[0]
    assert exited["exit_code"] == 3 and exited["restart_in"] == 1
    assert f"replica {dying} dies now" in exited["log_tail"]  # type: ignore[operator]
    run = bw("get", "runs", "wobbly").stdout
    assert "deployed" in run  # still the serving run


def test_a_module_dying_again_and_again_waits_longer_each_time(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "m"
    port = free_port()
    (project / "serve").mkdir(parents=True)
    (project / "serve" / "serve.py").write_text(DYING_MODULE.format(port=port), encoding="utf-8")
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: crashy}}
        stages:
          serve: {{path: serve/serve.py, service: {{port: {port}}}}}
        """,
    )
    git_commit(project)
    deployed = bw("deploy", project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    run_id = run_id_of(deployed)
    base = f"http://127.0.0.1:{port}"

    def exits() -> list[dict[str, object]]:
        return [e for e in service_events(bw, run_id) if e["type"] == "service.exited"]

    for death in range(1, 4):
        assert get(f"{base}/die").isdigit()  # it answers, then dies
        until(lambda n=death: len(exits()) == n, timeout=30)  # type: ignore[misc]
        if death < 3:  # restarted after its backoff, and ready again
            until(lambda: status(bw, "crashy") == "serving", timeout=30)
    assert [e["restart_in"] for e in exits()] == [1, 2, 4]
    assert all(e["exit_code"] == 4 for e in exits())  # the module's own code, not the runner's
    shown = until(lambda: failing(bw, "crashy"))
    assert "restarting in 4s (restart 3)" in shown
    assert "| module dies on request" in shown
    log = bw("logs", run_id, "serve").stdout
    assert log.count("[bodywork] replica 1 exited with code 4") == 3


def test_a_module_stopped_for_a_new_version_that_fails_serves_again(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "v"
    port = free_port()
    (project / "serve").mkdir(parents=True)
    module = project / "serve" / "serve.py"
    module.write_text(DYING_MODULE.format(port=port), encoding="utf-8")
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: versions}}
        stages:
          serve: {{path: serve/serve.py, service: {{port: {port}}}}}
        """,
    )
    git_commit(project, "v1")
    first = bw("deploy", project)
    assert first.returncode == 0, first.stdout + first.stderr
    base = f"http://127.0.0.1:{port}"
    assert get(f"{base}/").isdigit()

    # v2 cannot start: the old version, stopped to free the port, comes back
    module.write_text("raise SystemExit(5)\n", encoding="utf-8")
    git_commit(project, "v2")
    second = bw("deploy", project)
    assert second.returncode == 1
    # said before it starts: one port, so the old version stops once the new one is built
    assert f"serve binds port {port} itself: on this machine its serving version" in (second.stderr)
    until(lambda: status(bw, "versions") == "serving", timeout=30)
    assert until(lambda: _answers(f"{base}/"), timeout=30).isdigit()
    history = service_events(bw, run_id_of(first))
    assert [e["type"] for e in history] == ["service.restarted"]  # no exit: it was stopped
    assert "did not replace it" in str(history[0]["message"])


def _answers(url: str) -> str | None:
    try:
        return get(url, timeout=2)
    except OSError:
        return None
