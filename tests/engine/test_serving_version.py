"""What serves after a redeploy that did not deploy, on every surface, on this machine.

v1 serves; v2 is broken (its service raises at import), so its run fails and v1 keeps
serving; v3 hangs while starting and is cancelled, so v1 still serves. The deploy output
of v2 and v3 says so (which run, which commit, where), and ``get deployments``, ``get
deployment``, the Python API, the REST API's view and the live widget all tell the newest
run (v2, then v3) apart from the serving version (v1's run and commit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import bodywork_jupyter
from bodywork_jupyter.server import views
from bodywork_jupyter.widgets import RunView
from tests.engine.helpers import Bodywork, run_id_of
from tests.projects import free_port, git_commit, notebook, write_yaml

SERVE_V1 = "def predict(request):\n    return {'version': 1}"


def post(url: str) -> object:
    request = urllib.request.Request(url, data=b"{}", headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def project(folder: Path, port: int, serve: str) -> str:
    """The one-service pipeline ``swap`` with ``serve`` as its notebook: its commit."""
    notebook(folder / "serve.ipynb", serve)
    write_yaml(
        folder,
        f"""
        version: "2.0"
        pipeline: {{name: swap}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {port}}}}}
        """,
    )
    return git_commit(folder)


def deployments_row(bw: Bodywork, name: str) -> list[str]:
    listing = bw("get", "deployments")
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "RUN", "SERVING", "SERVICES"], header
    (row,) = [r.split() for r in rows if r.split()[0] == name]
    return row


def test_a_failed_and_a_cancelled_redeploy_say_the_old_version_keeps_serving(
    tmp_path: Path, bw: Bodywork
) -> None:
    folder, port = tmp_path / "p", free_port()
    url = f"http://127.0.0.1:{port}"
    v1 = project(folder, port, SERVE_V1)
    first = bw("deploy", folder)
    assert first.returncode == 0, first.stdout + first.stderr
    v1_run = run_id_of(first)
    assert "keeps serving" not in first.stdout + first.stderr  # nothing served before it

    v2 = project(folder, port, "raise RuntimeError('v2 is broken')")
    second = bw("deploy", folder)
    assert second.returncode == 1, second.stdout + second.stderr
    v2_run = run_id_of(second)
    kept = f"the previous version keeps serving: run {v1_run} (commit {v1[:8]}) at {url}"
    assert second.stderr.splitlines()[-1] == kept, second.stderr
    assert post(f"{url}/predict") == {"version": 1}

    # get deployments: the newest run, and apart from it the version that serves
    assert deployments_row(bw, "swap") == [
        "swap", "serving", v2_run, f"{v1_run}@{v1[:8]}", f"serve={url}"
    ]  # fmt: skip
    # get deployment NAME: the serving line names both runs with their commits
    detail = bw("get", "deployment", "swap").stdout.splitlines()
    (serving_line,) = [line for line in detail if line.startswith("serving ")]
    assert serving_line == (
        f"serving      run {v1_run} (commit {v1[:8]}) - the newest, run {v2_run} "
        f"(commit {v2[:8]}), is failed: stage 'serve' failed: cell 1 raised RuntimeError: "
        "v2 is broken"
    )
    service = dict(
        line.split(None, 1) for line in bw("get", "deployment", "swap", "serve").stdout.splitlines()
    )
    assert (service["run"], service["url"]) == (v1_run, url)

    # the Python API and the REST API's view of the deployment
    view = bodywork_jupyter.deployment("swap", state_dir=bw.state_dir)
    assert view.run is not None and view.serving_run is not None
    assert (view.run.id, view.serving_run.id, view.serving_commit) == (v2_run, v1_run, v1)
    assert view.urls == {"serve": url}
    rest = views.deployment(view)
    assert (rest["current_run"], rest["serving_run"]) == (v2_run, v1_run)
    assert rest["serving"] == {"run": v1_run, "commit": v1, "urls": {"serve": url}, "ingresses": {}}
    failed = bodywork_jupyter.get_run(v2_run, state_dir=bw.state_dir)
    instead = failed.serving_instead
    assert instead is not None and instead.serving_run is not None
    assert instead.serving_run.id == v1_run
    served = bodywork_jupyter.get_run(v1_run, state_dir=bw.state_dir)
    assert served.serving_instead is None  # it is the serving version itself

    # the live view of the failed run says it too
    widget = RunView(failed, poll=0.1).wait(timeout=30)
    assert widget.status == "failed" and widget.kept_serving == kept
    assert kept in widget.header.value and kept in repr(widget)
    failed.close()
    served.close()

    # v3 hangs while it starts: cancelled while deploy follows it, v1 still serves
    project(folder, port, "import time\ntime.sleep(120)")
    env = {**os.environ, "BODYWORK_STATE_DIR": str(bw.state_dir), "NO_COLOR": "1"}
    following = subprocess.Popen(
        [sys.executable, "-m", "bodywork_jupyter", "deploy", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        v3_run = wait_for_stage_running(bw, "swap", v2_run)
        assert bw("cancel", v3_run).returncode == 0
        out, err = following.communicate(timeout=60)
    finally:
        following.kill()
    assert following.returncode == 1, out + err
    assert f"error: run {v3_run} cancelled" in err, err
    assert err.splitlines()[-1] == kept, err
    assert post(f"{url}/predict") == {"version": 1}
    assert deployments_row(bw, "swap")[2:4] == [v3_run, f"{v1_run}@{v1[:8]}"]


def wait_for_stage_running(bw: Bodywork, deployment: str, after: str) -> str:
    """The id of ``deployment``'s run newer than ``after``, once its stage is running."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        store = bw.store()
        try:
            newest = store.runs(deployment)[0]
            if newest.id != after and any(s.status == "running" for s in store.stages(newest.id)):
                return newest.id
        finally:
            store.close()
        time.sleep(0.3)
    raise AssertionError(f"no new run of {deployment} started")
