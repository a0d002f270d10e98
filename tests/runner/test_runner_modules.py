"""Python module stages: batch jobs with arguments, failures, and a Bodywork-style Flask service."""

from __future__ import annotations

import json
import os
import signal
import socket
import textwrap
import time
import urllib.request
from pathlib import Path

from runner_helpers import RunningRunner, make_spec, run_runner, runner_env

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


def test_a_module_that_dies_of_an_exception_says_which_in_one_line(tmp_path: Path) -> None:
    """As Bodywork's test project's stage_2 does without the internet (it gets google.com):
    the failure names the exception, so the one line says what went wrong."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "fetch.py").write_text(
        "import urllib.request\n"
        "def main():\n"
        "    urllib.request.urlopen('http://127.0.0.1:9/', timeout=5)\n"
        "main()\n"
    )
    result = run_runner(make_spec(project, "fetch.py", tmp_path), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert failed["reason"] == "exit" and failed["exit_code"] == 1
    message = failed["message"]
    assert message.startswith("fetch.py exited with code 1: urllib.error.URLError: ")
    assert "Connection refused" in message and "\n" not in message
    assert "Traceback (most recent call last)" in result.stderr  # the whole of it: the log


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


def _flask_service(tmp_path: Path, background: list[RunningRunner]) -> tuple[RunningRunner, int]:
    """FLASK_SERVICE as a module service stage on a free port, started in the background."""
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
    return runner, port


def test_a_flask_module_service_runs_until_sigterm(tmp_path: Path, background: list) -> None:
    runner, port = _flask_service(tmp_path, background)
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


def test_a_module_runs_in_its_folder_with_the_repository_importable(tmp_path: Path) -> None:
    """As Bodywork ran it: the module's folder is the working directory, and the project
    (and the repository's root, when the project is a subfolder) is on PYTHONPATH."""
    repo = tmp_path / "repo"
    (repo / "shared").mkdir(parents=True)
    (repo / "shared" / "__init__.py").write_text("GREETING = 'from the repository root'\n")
    (repo / "ml" / "features").mkdir(parents=True)
    (repo / "ml" / "features" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    stage = repo / "ml" / "stages" / "train"
    stage.mkdir(parents=True)
    (stage / "settings.txt").write_text("21")
    (stage / "train.py").write_text(
        textwrap.dedent(
            """
            import os
            from features import double
            from shared import GREETING
            print("cwd", os.getcwd())
            print("result", double(int(open("settings.txt").read())), GREETING)
            """
        )
    )
    spec = make_spec(repo, "stages/train/train.py", tmp_path)
    spec["source"]["project_dir"] = "ml"
    result = run_runner(spec, tmp_path, env=runner_env(PYTHONPATH="/somewhere/else"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"cwd {stage}" in result.stdout
    assert "result 42 from the repository root" in result.stdout


SLEEPY_SERVICE = """
import pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("started")
time.sleep(3)
sys.exit(3)
"""


def _service_spec(project: Path, tmp: Path, port: int, marker: Path) -> dict[str, object]:
    (project / "serve.py").write_text(SLEEPY_SERVICE)
    return make_spec(
        project,
        "serve.py",
        tmp,
        kind="service",
        args=[str(marker)],
        service={"port": port, "host": "127.0.0.1"},
    )


def test_a_port_held_by_another_program_is_named_and_the_module_never_starts(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "started"
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        result = run_runner(_service_spec(project, tmp_path, port, marker), tmp_path)

    assert result.returncode == 1
    failed = result.one("stage.failed")
    assert failed["message"].startswith(f"port {port} is in use by pid {os.getpid()} (")
    assert "stop it, or give the service another port" in failed["message"]
    assert "service.ready" not in result.kinds
    assert not marker.exists()


def test_only_the_modules_own_listener_makes_it_ready(tmp_path: Path, background: list) -> None:
    """A port another program takes after the module started answers, but is not the stage."""
    project = tmp_path / "project"
    project.mkdir()
    marker = tmp_path / "started"
    port = free_port()
    runner = RunningRunner(_service_spec(project, tmp_path, port, marker), tmp_path)
    background.append(runner)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), runner.log()
    with socket.create_server(("127.0.0.1", port)):
        code = runner.finish(timeout=30)

    assert code == 1
    assert "service.ready" not in runner.kinds()
    failed = [e for e in runner.events if e["event"] == "stage.failed"]
    assert failed and failed[0]["message"].startswith("the service serve.py exited with code 3")
    assert f"port {port} is in use by pid {os.getpid()}" in failed[0]["message"]
    assert f"port {port} is in use by pid {os.getpid()}" in "".join(runner.stderr)  # the warning


def test_a_module_service_ends_with_a_force_killed_runner(tmp_path: Path, background: list) -> None:
    """The module has a session of its own (a stop reaches its whole group), so nothing
    else would end it when its runner is SIGKILLed: left running, it would hold the port
    of the next deploy."""
    runner, port = _flask_service(tmp_path, background)
    runner.wait_for("service.ready", timeout=30)
    children = Path(f"/proc/{runner.process.pid}/task/{runner.process.pid}/children")
    (module,) = (int(pid) for pid in children.read_text().split())

    runner.process.kill()
    runner.process.wait(timeout=10)

    deadline = time.monotonic() + 10
    while Path(f"/proc/{module}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    status = Path(f"/proc/{module}/status")
    assert not status.exists() or "State:\tZ" in status.read_text(), "the module outlived it"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "its port still answers"
