"""Two module services on one port, calling each other: by stage name and by URL variable.

The shape of Bodywork's own test project: a 1.1 ``bodywork.yaml`` whose two services both
listen on port 5000 and reach each other as ``http://stage-4:5000``. On a cluster every
Service has its own address, so this works here (this machine refuses it: see
tests/engine/test_local_services.py), and ``BODYWORK_SERVICE_<STAGE>_URL`` names the same
address, so code that reads it works on both targets.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import Bodywork, answer_or_none, bodywork_cli, proxy_post, shared_folder
from k8s_helpers import Kube, wait_for

from tests.projects import git_commit

pytestmark = pytest.mark.k8s

CONFIG = """\
version: "1.1"
pipeline:
  name: by-name
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: stage_1 >> stage_3,stage_4 >> stage_5
stages:
  stage_1:
    executable_module_path: stage_1/main.py
    cpu_request: 0.1
    memory_request_mb: 50
    batch: {max_completion_time_seconds: 60, retries: 0}
  stage_3:
    executable_module_path: stage_3/serve.py
    args: ["stage-3", "stage-4"]
    cpu_request: 0.1
    memory_request_mb: 50
    service: {max_startup_time_seconds: 60, replicas: 1, port: 5000, ingress: false}
  stage_4:
    executable_module_path: stage_4/serve.py
    args: ["stage-4", "stage-3"]
    cpu_request: 0.1
    memory_request_mb: 50
    service: {max_startup_time_seconds: 60, replicas: 1, port: 5000, ingress: false}
  stage_5:
    executable_module_path: stage_5/main.py
    cpu_request: 0.1
    memory_request_mb: 50
    batch: {max_completion_time_seconds: 60, retries: 0}
logging:
  log_level: INFO
"""

#: A batch stage after the services, in the same run: it reaches the new (first) versions
#: by name, as Bodywork's ``stage_4 >> stage_5`` does.
CALLER = """\
import json, os, urllib.request

for url in ("http://stage-4:5000", os.environ["BODYWORK_SERVICE_STAGE_4_URL"]):
    request = urllib.request.Request(
        url + "/hello", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read()) == {"from": "stage-4"}
print("stage-4 answered")
"""

#: ``serve.py NAME OTHER``: POST /hello names it; POST /call asks OTHER's /hello twice, by
#: its stage name and through BODYWORK_SERVICE_<OTHER>_URL.
SERVE = """\
import json, os, sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME, OTHER = sys.argv[1], sys.argv[2]
VARIABLE = "BODYWORK_SERVICE_" + OTHER.upper().replace("-", "_") + "_URL"

def ask(url):
    request = urllib.request.Request(
        url + "/hello", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/call":
            body = {
                "by_name": ask(f"http://{OTHER}:5000"),
                "by_variable": ask(os.environ[VARIABLE]),
                "variable": os.environ[VARIABLE],
            }
        else:
            body = {"from": NAME}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

ThreadingHTTPServer(("0.0.0.0", 5000), Handler).serve_forever()
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-by-name-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    run = bodywork_cli(k8s_kubeconfig, kube.namespace, tmp_path / "state")
    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return run


def test_two_services_on_one_port_call_each_other_by_name_and_by_variable(
    bw: Bodywork, kube: Kube, shared: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "by-name"
    for stage in ("stage_1", "stage_3", "stage_4", "stage_5"):
        (folder / stage).mkdir(parents=True)
    (folder / "stage_1" / "main.py").write_text("print('prepared')\n", encoding="utf-8")
    (folder / "stage_3" / "serve.py").write_text(SERVE, encoding="utf-8")
    (folder / "stage_4" / "serve.py").write_text(SERVE, encoding="utf-8")
    (folder / "stage_5" / "main.py").write_text(CALLER, encoding="utf-8")
    (folder / "bodywork.yaml").write_text(CONFIG, encoding="utf-8")
    git_commit(folder, "two services on port 5000")
    remote = shared / "by-name.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", str(remote)], check=True)
    subprocess.run(["git", "-C", str(folder), "push", "-q", "-u", "origin", "HEAD"], check=True)

    result = bw("deploy", str(folder))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "stage-4 answered" in bw("logs", "by-name", "stage_5").stdout
    for name, other in (("stage-3", "stage-4"), ("stage-4", "stage-3")):
        answer = wait_for(
            f"{name} to call {other}",
            lambda name=name: answer_or_none(lambda: proxy_post(kube, name, 5000, "/call", {})),
            timeout=30,
        )
        assert answer == {
            "by_name": {"from": other},
            "by_variable": {"from": other},
            "variable": f"http://{other}:5000",
        }
    assert bw("delete", "deployment", "by-name").returncode == 0
