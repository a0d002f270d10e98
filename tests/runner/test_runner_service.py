"""Notebook services, executed in the runner's process and served over real HTTP."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from runner_helpers import RunningRunner, make_spec, run_runner, write_notebook

from tests.projects import free_port


def _service_spec(project: Path, file: str, tmp: Path, **fields: Any) -> dict[str, Any]:
    port = free_port()
    service = {"port": port, "host": "127.0.0.1"}
    return make_spec(project, file, tmp, kind="service", service=service, **fields)


def _call(url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def test_a_predict_function_is_served(tmp_path: Path, background: list) -> None:
    project = tmp_path / "project"
    write_notebook(
        project / "predict.ipynb",
        "%config InteractiveShell.ast_node_interactivity = 'last'",
        "def predict(payload):\n"
        "    if payload.get('boom'):\n"
        "        raise RuntimeError('model exploded')\n"
        "    return {'y': payload['x'] * factor}",
        parameters="factor = 1",
    )
    spec = _service_spec(project, "predict.ipynb", tmp_path, parameters={"factor": 3})
    runner = RunningRunner(spec, tmp_path)
    background.append(runner)
    url = runner.wait_for("service.ready", timeout=30)["url"]

    assert _call(f"{url}/predict", json.dumps({"x": 2}).encode()) == (200, {"y": 6})
    assert _call(f"{url}/healthz") == (200, {"status": "ok"})
    status, body = _call(f"{url}/predict", b"not json")
    assert status == 400 and "JSON" in body["error"]
    status, body = _call(f"{url}/predict", json.dumps({"boom": True}).encode())
    assert status == 500 and "model exploded" in body["error"]

    runner.process.send_signal(signal.SIGTERM)
    assert runner.finish(timeout=20) == 0
    assert runner.kinds()[-1] == "service.stopped"
    assert [e["index"] for e in runner.events if e["event"] == "cell.finished"] == [1, 2, 3, 4]


def test_a_flask_app_in_a_notebook_is_served(tmp_path: Path, background: list) -> None:
    project = tmp_path / "project"
    write_notebook(
        project / "app.ipynb",
        "from flask import Flask, jsonify\napp = Flask('demo')",
        "@app.get('/hello')\ndef hello():\n    return jsonify({'hello': 'world'})",
    )
    runner = RunningRunner(_service_spec(project, "app.ipynb", tmp_path), tmp_path)
    background.append(runner)
    url = runner.wait_for("service.ready", timeout=30)["url"]

    assert _call(f"{url}/hello") == (200, {"hello": "world"})
    assert _call(f"{url}/healthz") == (200, {"status": "ok"})
    runner.process.send_signal(signal.SIGTERM)
    assert runner.finish(timeout=20) == 0


def test_a_notebook_serving_nothing_is_bad_input(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "nothing.ipynb", "x = 1")
    result = run_runner(_service_spec(project, "nothing.ipynb", tmp_path), tmp_path)

    assert result.returncode == 2
    failed = result.one("stage.failed")
    assert failed["reason"] == "bad_input"
    assert "neither `app` nor `predict`" in failed["message"]


def test_a_failing_cell_stops_the_service(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "broken.ipynb", "x = 1", "import no_such_module_here")
    result = run_runner(_service_spec(project, "broken.ipynb", tmp_path), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert (failed["reason"], failed["cell"], failed["ename"]) == (
        "error",
        2,
        "ModuleNotFoundError",
    )
    assert "no_such_module_here" in failed["traceback"]
