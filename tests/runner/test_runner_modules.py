"""Python module stages: batch jobs with arguments, failures, and a Bodywork-style Flask service."""

from __future__ import annotations

import json
import signal
import textwrap
import time
import urllib.request
from pathlib import Path

from runner_helpers import RunningRunner, make_spec, run_runner

from tests.projects import free_port


def test_a_batch_module_runs_with_its_arguments(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "prepare.py").write_text(
        textwrap.dedent(
            """
            import os, sys
            print("args", sys.argv[1:], os.environ["BODYWORK_RUN_ID"], os.getcwd())
            print("::bodywork-event:: {\\"event\\": \\"stage.succeeded\\"}")
            print("to stderr", file=sys.stderr)
            """
        )
    )
    spec = make_spec(project, "prepare.py", tmp_path, args=["--rows", "10"])
    result = run_runner(spec, tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"args ['--rows', '10'] run-1 {project}" in result.stdout
    assert "to stderr" in result.stderr
    # the module's own fake event line is log text, not an event
    assert result.kinds == [
        "runner.started",
        "code.ready",
        "requirements.ready",
        "stage.running",
        "stage.succeeded",
    ]


def test_a_failing_module_reports_its_exit_code(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "fails.py").write_text("import sys\nprint('about to fail')\nsys.exit(4)\n")
    result = run_runner(make_spec(project, "fails.py", tmp_path), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert failed["reason"] == "exit"
    assert failed["exit_code"] == 4
    assert "about to fail" in result.stdout


def test_a_module_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "slow.py").write_text("import time\ntime.sleep(60)\n")
    started = time.monotonic()
    result = run_runner(make_spec(project, "slow.py", tmp_path, timeout_seconds=1), tmp_path)

    assert result.returncode == 1
    assert result.one("stage.failed")["reason"] == "timeout"
    assert time.monotonic() - started < 15


FLASK_SERVICE = """
import sys
from flask import Flask, jsonify, request

app = Flask(__name__)

@app.route("/score/v1", methods=["POST"])
def score():
    return jsonify({"y": request.json["x"] * 2, "args": sys.argv[1:]})

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
"""


def test_a_flask_module_service_runs_until_sigterm(tmp_path: Path, background: list) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "serve.py").write_text(FLASK_SERVICE)
    port = free_port()
    spec = make_spec(
        project,
        "serve.py",
        tmp_path,
        kind="service",
        args=[str(port)],
        service={"port": port, "host": "127.0.0.1"},
    )
    runner = RunningRunner(spec, tmp_path)
    background.append(runner)
    ready = runner.wait_for("service.ready", timeout=30)
    assert ready["url"] == f"http://127.0.0.1:{port}"

    request = urllib.request.Request(
        f"{ready['url']}/score/v1",
        data=json.dumps({"x": 21}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"y": 42, "args": [str(port)]}

    runner.process.send_signal(signal.SIGTERM)
    assert runner.finish(timeout=20) == 0
    assert runner.kinds()[-1] == "service.stopped"
