"""Bodywork's semantics on this machine: module stages, services' ports, services by URL.

Real runners, supervisors and stage processes; each test deploys a small project of its own.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
import urllib.request
from pathlib import Path

from tests.engine.helpers import Bodywork, events, run_id_of
from tests.projects import free_port, git_commit, notebook, write_yaml

#: A module service of the standard library, ``serve.py NAME PORT [VARIABLE]``: GET /hello
#: names it, GET /call asks the service whose URL is in the environment variable VARIABLE.
SERVICE = """\
import json, os, sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME, PORT, CALLS = sys.argv[1], int(sys.argv[2]), (sys.argv[3:] or [None])[0]

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/call":
            url = os.environ[CALLS] + "/predict"
            request = urllib.request.Request(
                url, data=b'{"x": 1}', headers={"content-type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                body = {"url": url, "answer": json.loads(answer.read())}
        else:
            body = {"from": NAME}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
"""


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_a_module_runs_in_its_folder_and_imports_the_repository(
    tmp_path: Path, bw: Bodywork
) -> None:
    """Bodywork's way for modules; a notebook runs in its own folder, as in Jupyter."""
    project = tmp_path / "repo"
    write(project / "mylib" / "__init__.py", "def double(x):\n    return 2 * x\n")
    write(project / "stages" / "train" / "factor.txt", "21")
    write(
        project / "stages" / "train" / "train.py",
        """
        import os, pathlib
        from mylib import double
        result = double(int(open("factor.txt").read()))
        pathlib.Path(os.environ["BODYWORK_DATA_DIR"], "result").write_text(str(result))
        print("trained in", os.getcwd())
        """,
    )
    write(project / "stages" / "report" / "title.txt", "Report")
    notebook(
        project / "stages" / "report" / "report.ipynb",
        "import os, pathlib",
        "title = open('title.txt').read()",
        "print(title, pathlib.Path(os.environ['BODYWORK_DATA_DIR'], 'result').read_text())",
    )
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: semantics}
        stages:
          train: {path: stages/train/train.py}
          report: {path: stages/report/report.ipynb, depends_on: [train]}
        """,
    )
    git_commit(project)
    result = bw("deploy", project)

    assert result.returncode == 0, result.stdout + result.stderr
    train_log = bw("logs", "semantics", "train").stdout
    assert "trained in " in train_log and train_log.rstrip().endswith("/stages/train"), train_log
    assert "Report 42" in bw("logs", "semantics", "report").stdout


BODYWORK_TEST_PROJECT = """\
version: "1.1"
pipeline:
  name: two-on-one-port
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: stage_1 >> stage_3,stage_4
stages:
  stage_1:
    executable_module_path: stage_1/main.py
    cpu_request: 0.1
    memory_request_mb: 50
    batch: {{max_completion_time_seconds: 30, retries: 0}}
  stage_3:
    executable_module_path: stage_3/serve.py
    args: ["stage_3", "{port}"]
    cpu_request: 0.1
    memory_request_mb: 50
    service: {{max_startup_time_seconds: 30, replicas: 1, port: {port}, ingress: false}}
  stage_4:
    executable_module_path: stage_4/serve.py
    args: ["stage_4", "{port}"]
    cpu_request: 0.1
    memory_request_mb: 50
    service: {{max_startup_time_seconds: 30, replicas: 1, port: {port}, ingress: false}}
logging:
  log_level: INFO
"""


def test_two_services_on_one_port_are_refused_before_anything_starts(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "p"
    marker = tmp_path / "stage_1-ran"
    port = free_port()
    write(project / "stage_1" / "main.py", f"open({str(marker)!r}, 'w').write('ran')\n")
    write(project / "stage_3" / "serve.py", SERVICE)
    write(project / "stage_4" / "serve.py", SERVICE)
    (project / "bodywork.yaml").write_text(BODYWORK_TEST_PROJECT.format(port=port))
    git_commit(project)
    result = bw("deploy", project)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"error: stages 'stage_3' and 'stage_4' are services on the same port {port}: on a "
        "cluster each service has its own address, but on this machine only one program can "
        f"listen on port {port}" in result.stderr
    )
    assert (
        "give each its own port (service.port in bodywork.yaml), or deploy to a cluster "
        "(--target kubernetes)" in result.stderr
    )
    assert bw.store().runs() == []  # nothing recorded
    assert not marker.exists()  # nothing ran


def _module_service_project(project: Path, port: int, marker: Path, wait_for: Path | None) -> None:
    """``prep`` (a batch module; with ``wait_for``, it waits for that file), then ``serve``,
    a module service on ``port`` that leaves ``marker`` when it starts."""
    waiting = f"while not os.path.exists({str(wait_for)!r}):\n    time.sleep(0.1)\n"
    write(project / "prep.py", "import os, time\n" + (waiting if wait_for else ""))
    write(
        project / "serve.py",
        f"open({str(marker)!r}, 'w').write('started')\n" + SERVICE,
    )
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: held}}
        stages:
          prep: {{path: prep.py}}
          serve:
            path: serve.py
            args: [serve, "{port}"]
            depends_on: [prep]
            service: {{port: {port}}}
        """,
    )
    git_commit(project)


def test_a_port_held_by_another_program_is_named_and_nothing_starts(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "p"
    marker = tmp_path / "serve-started"
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        _module_service_project(project, port, marker, None)
        result = bw("deploy", project)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"error: port {port} of service 'serve' is in use by pid {os.getpid()} (" in result.stderr
    )
    assert "- stop it, or give 'serve' another port (service.port in bodywork.yaml)" in (
        result.stderr
    )
    assert bw.store().runs() == []
    assert not marker.exists()


def test_a_port_taken_while_earlier_stages_run_fails_the_service_unstarted(
    tmp_path: Path, bw: Bodywork
) -> None:
    """Checked again just before the service starts: it never starts, is never ready."""
    project = tmp_path / "p"
    marker, go = tmp_path / "serve-started", tmp_path / "go"
    port = free_port()
    _module_service_project(project, port, marker, go)
    result = bw("deploy", project, "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)
    store = bw.store()
    with socket.create_server(("127.0.0.1", port)):
        go.write_text("go")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = store.get_run(run_id, with_plan=False)
            if run is not None and run.status not in ("queued", "running"):
                break
            time.sleep(0.2)

    assert run is not None and run.status == "failed", run
    stages = {s.stage: s for s in store.stages(run_id)}
    assert stages["prep"].status == "succeeded"
    assert stages["serve"].status == "failed"
    message = stages["serve"].message or ""
    assert f"port {port} of service 'serve' is in use by pid {os.getpid()} (" in message
    assert not any(e["type"] == "stage.ready" for e in events(bw, run_id))
    assert not marker.exists()
    assert f"serve=http://127.0.0.1:{port}" not in bw("get", "deployments").stdout


def test_a_service_reaches_another_through_its_url_variable(tmp_path: Path, bw: Bodywork) -> None:
    """``BODYWORK_SERVICE_<STAGE>_URL``: here a module service calls a notebook service."""
    project = tmp_path / "p"
    model_port, front_port = free_port(), free_port()
    notebook(project / "model.ipynb", "def predict(request):\n    return {'y': request['x'] + 1}")
    write(project / "front.py", SERVICE)
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: calling}}
        stages:
          model: {{path: model.ipynb, service: {{port: {model_port}}}}}
          front:
            path: front.py
            args: [front, "{front_port}", BODYWORK_SERVICE_MODEL_URL]
            service: {{port: {front_port}}}
        """,
    )
    git_commit(project)
    result = bw("deploy", project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert get(f"http://127.0.0.1:{front_port}/call") == {
        "url": f"http://127.0.0.1:{model_port}/predict",
        "answer": {"y": 2},
    }
