"""``bodywork deploy`` on this machine: real runner processes, kernels and supervisors."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.engine.helpers import Bodywork, events, run_id_of
from tests.projects import free_port, git_commit, notebook, write_yaml


def post(url: str, payload: object, timeout: float = 10) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def stage_events(bw: Bodywork, run_id: str, stage: str) -> list[dict[str, object]]:
    return [e for e in events(bw, run_id) if e["stage"] == stage]


def test_batch_and_service_pipeline_with_params(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "project"
    notebook(
        project / "prep.ipynb",
        "import os, pathlib\npathlib.Path(os.environ['BODYWORK_DATA_DIR'], 'n').write_text(str(n))",
        params="n = 1",
    )
    notebook(
        project / "serve.ipynb",
        """
        import os, pathlib
        N = int(pathlib.Path(os.environ['BODYWORK_DATA_DIR'], 'n').read_text())
        def predict(request):
            return {"y": request["x"] * N}
        """,
    )
    port = free_port()
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: calc}}
        stages:
          prep: {{path: prep.ipynb, parameters: {{n: 3}}}}
          serve: {{path: serve.ipynb, depends_on: [prep], service: {{port: {port}, replicas: 2}}}}
        """,
    )
    git_commit(project)
    result = bw("deploy", project, "--param", "prep.n=7")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"serve is serving at http://127.0.0.1:{port}" in result.stdout
    assert post(f"http://127.0.0.1:{port}/predict", {"x": 2}) == {"y": 14}
    listing = bw("get", "deployments").stdout
    assert "calc" in listing and f"serve=http://127.0.0.1:{port}" in listing

    deleted = bw("delete", "deployment", "calc")
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert "no deployments" in bw("get", "deployments").stdout


@pytest.mark.parametrize(
    ("cells", "reason", "text"),
    [
        (["x = 1", "raise ValueError('bad data')"], "error", "ValueError"),
        (["import sys\nsys.exit(3)"], "exit", "3"),
        (["import os\nos._exit(1)"], "kernel_died", ""),
    ],
    ids=["raises", "sys-exit-3", "kernel-death"],
)
def test_failing_notebooks_fail_the_run(
    tmp_path: Path, bw: Bodywork, cells: list[str], reason: str, text: str
) -> None:
    project = tmp_path / "p"
    notebook(project / "bad.ipynb", *cells)
    notebook(project / "after.ipynb", "print('never')")
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: broken}
        stages:
          bad: {path: bad.ipynb}
          after: {path: after.ipynb, depends_on: [bad]}
        """,
    )
    result = bw("deploy", project)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    run_id = run_id_of(result)
    failed = [e for e in stage_events(bw, run_id, "bad") if e["type"] == "stage.failed"]
    assert failed and failed[0]["reason"] == reason
    assert text in str(failed[0]["message"])
    store = bw.store()
    statuses = {s.stage: s.status for s in store.stages(run_id)}
    assert statuses == {"bad": "failed", "after": "skipped"}
    assert store.get_run(run_id).status == "failed"  # type: ignore[union-attr]


def test_a_failing_cell_is_named(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    notebook(project / "bad.ipynb", "a = 1", "b = 2", "1 / 0")
    write_yaml(
        project, 'version: "2.0"\npipeline: {name: cells}\nstages: {bad: {path: bad.ipynb}}\n'
    )
    result = bw("deploy", project)
    failed = [e for e in stage_events(bw, run_id_of(result), "bad") if e["type"] == "stage.failed"]
    assert failed[0]["ename"] == "ZeroDivisionError"
    assert failed[0]["cell"] == 3


def test_an_endless_loop_hits_its_timeout(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    notebook(project / "loop.ipynb", "while True:\n    pass")
    write_yaml(
        project,
        'version: "2.0"\npipeline: {name: loop}\nstages: {loop: {path: loop.ipynb, timeout: 3}}\n',
    )
    started = time.monotonic()
    result = bw("deploy", project)
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    failed = [e for e in stage_events(bw, run_id_of(result), "loop") if e["type"] == "stage.failed"]
    assert failed[0]["reason"] == "timeout"


def test_flaky_stage_succeeds_on_retry(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    counter = tmp_path / "attempts"
    notebook(
        project / "flaky.ipynb",
        f"""
        import pathlib
        counter = pathlib.Path({str(counter)!r})
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        assert n >= 3, f"attempt {{n}} fails"
        """,
    )
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: flaky}
        stages:
          flaky: {path: flaky.ipynb, retries: {count: 3, backoff: 0.2}}
        """,
    )
    result = bw("deploy", project)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)
    kinds = [e["type"] for e in stage_events(bw, run_id, "flaky")]
    assert kinds.count("stage.retrying") == 2
    assert kinds[-1] == "stage.succeeded"
    (stage,) = bw.store().stages(run_id)
    assert (stage.status, stage.attempt) == ("succeeded", 3)


def test_independent_stages_overlap_in_time(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    for name in ("left", "right"):
        notebook(project / f"{name}.ipynb", "import time\ntime.sleep(3)")
    notebook(project / "join.ipynb", "print('joined')")
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: fan}
        stages:
          left: {path: left.ipynb}
          right: {path: right.ipynb}
          join: {path: join.ipynb, depends_on: [left, right]}
        """,
    )
    result = bw("deploy", project)
    assert result.returncode == 0, result.stdout + result.stderr
    store = bw.store()
    stages = {s.stage: s for s in store.stages(run_id_of(result))}
    left, right, join = stages["left"], stages["right"], stages["join"]
    assert left.started and right.started and left.finished and right.finished and join.started
    # each ran while the other was running
    assert left.started < right.finished and right.started < left.finished
    assert join.started >= max(left.finished, right.finished)


def test_redeploy_with_a_broken_version_keeps_the_old_one_serving(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "p"
    port = free_port()
    notebook(project / "serve.ipynb", "def predict(request):\n    return {'version': 1}")
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: swap}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {port}}}}}
        """,
    )
    git_commit(project, "v1")
    assert bw("deploy", project).returncode == 0
    url = f"http://127.0.0.1:{port}/predict"
    assert post(url, {}) == {"version": 1}

    notebook(project / "serve.ipynb", "raise RuntimeError('v2 is broken')")
    git_commit(project, "v2")
    broken = bw("deploy", project)
    assert broken.returncode == 1
    assert post(url, {}) == {"version": 1}

    notebook(project / "serve.ipynb", "def predict(request):\n    return {'version': 3}")
    git_commit(project, "v3")
    assert bw("deploy", project).returncode == 0
    assert post(url, {}) == {"version": 3}
    runs = bw.store().runs("swap")
    assert [r.status for r in runs] == ["deployed", "failed", "stopped"]


def test_killing_the_supervisor_is_shown(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "p"
    port = free_port()
    notebook(project / "serve.ipynb", "def predict(request):\n    return {}")
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: fragile}}\n'
        f"stages: {{serve: {{path: serve.ipynb, service: {{port: {port}}}}}}}\n",
    )
    result = bw("deploy", project)
    assert result.returncode == 0, result.stdout + result.stderr
    store = bw.store()
    deployment = store.get_deployment("fragile")
    assert deployment is not None and deployment.supervisor_pid
    os.kill(deployment.supervisor_pid, signal.SIGKILL)
    # lost once its heartbeat has been silent for the local target's limit (6 s)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = bw("get", "runs", "fragile").stdout
        if "lost" in runs:
            break
        time.sleep(0.2)
    assert "lost" in runs and "supervisor process died" in runs
    # its service processes went with it: the port is free again
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    # and a new deploy starts a new supervisor
    assert bw("deploy", project).returncode == 0


def test_a_bodywork_1_1_project_deploys_unchanged(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "classic"
    port = free_port()
    (project / "train").mkdir(parents=True)
    (project / "serve").mkdir()
    (project / "train" / "train.py").write_text(
        "import os, pathlib, sys\n"
        "pathlib.Path(os.environ['BODYWORK_DATA_DIR'], 'w').write_text(sys.argv[1])\n",
        encoding="utf-8",
    )
    (project / "serve" / "serve.py").write_text(
        "import os, pathlib\n"
        "from flask import Flask, jsonify\n"
        "app = Flask(__name__)\n"
        "W = pathlib.Path(os.environ['BODYWORK_DATA_DIR'], 'w').read_text()\n"
        "@app.route('/score', methods=['POST'])\n"
        "def score():\n"
        "    return jsonify({'w': W})\n"
        "if __name__ == '__main__':\n"
        f"    app.run(host='0.0.0.0', port={port})\n",
        encoding="utf-8",
    )
    write_yaml(
        project,
        f"""
        version: "1.1"
        pipeline:
          name: classic
          docker_image: bodyworkml/bodywork-core:latest
          DAG: train >> serve
        stages:
          train:
            executable_module_path: train/train.py
            args: ["42"]
            cpu_request: 0.5
            memory_request_mb: 100
            batch:
              max_completion_time_seconds: 60
              retries: 0
          serve:
            executable_module_path: serve/serve.py
            cpu_request: 0.25
            memory_request_mb: 100
            service:
              max_startup_time_seconds: 60
              replicas: 2
              port: {port}
              ingress: false
        logging:
          log_level: INFO
        """,
    )
    result = bw("deploy", project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert post(f"http://127.0.0.1:{port}/score", {}) == {"w": "42"}
    log = bw("logs", run_id_of(result), "serve")
    assert log.returncode == 0 and "runs as 1 process on this machine" in log.stdout
    assert "note: serve starts its own server" in result.stdout


def test_a_git_url_deploy_and_delete_leave_no_checkout_behind(
    tmp_path: Path, bw: Bodywork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout that reads bodywork.yaml goes at once; stage checkouts when they end."""
    project = tmp_path / "repo"
    port = free_port()
    notebook(project / "prep.ipynb", "print('prepared')")
    notebook(project / "serve.ipynb", "def predict(request):\n    return {'ok': True}")
    write_yaml(
        project,
        f"""
        version: "2.0"
        pipeline: {{name: tidy}}
        stages:
          prep: {{path: prep.ipynb}}
          serve: {{path: serve.ipynb, depends_on: [prep], service: {{port: {port}}}}}
        """,
    )
    git_commit(project)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the CLI (and its supervisor) make temp files here
    result = bw("deploy", project.resolve().as_uri())
    assert result.returncode == 0, result.stdout + result.stderr
    assert post(f"http://127.0.0.1:{port}/predict", {}) == {"ok": True}
    assert not list(temp.glob("bodywork-source-*"))
    runs = bw.state_dir / "runs"
    assert not list(runs.glob("*/prep/attempt-*/code*"))  # a batch checkout goes when it ends
    assert list(runs.glob("*/serve/attempt-*/code*"))  # a serving replica still needs its own
    assert bw("delete", "deployment", "tidy").returncode == 0
    assert not list(runs.glob("*/*/attempt-*/code*"))
    assert not list(temp.glob("bodywork-*"))
    # the history stays: logs and the executed notebook
    assert "prepared" in bw("logs", "tidy", "prep").stdout
    assert list(runs.glob("*/prep/attempt-1/prep.ipynb"))
