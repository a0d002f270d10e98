"""A Bodywork 1.1 project deploys unchanged on the test cluster, as ``bodywork deploy .``.

The project is what a Bodywork user has: a 1.1 ``bodywork.yaml`` (its ``docker_image`` is
Bodywork's own, its DAG a ``stage_1 >> stage_2`` string, a secrets group), a batch module
given ``args``, and a module service that binds its own port (stdlib ``http.server``:
nothing to install), two replicas behind an Ingress. It is committed in a repository whose
remote is a bare repository under /var/tmp. The working copy is under /tmp, which the pods
cannot see: the stages can only have fetched the code from the remote.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import (
    Bodywork,
    answer_or_none,
    bodywork_cli,
    jobs,
    proxy_post,
    run_id_of,
    shared_folder,
)
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.plan import DEFAULT_IMAGE
from tests.projects import git_commit

pytestmark = pytest.mark.k8s

OURS = "app.kubernetes.io/managed-by=bodywork-jupyter"
SECRET_VALUE = "not-for-any-log-7f3a"

CONFIG = """\
version: "1.1"
pipeline:
  name: classic
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: stage_1 >> stage_2
  secrets_group: test
  usage_stats: false
stages:
  stage_1:
    executable_module_path: stage_1/train.py
    args: ["{out}", "42"]
    requirements: []
    cpu_request: 0.1
    memory_request_mb: 50
    secrets:
      API_KEY: credentials
    batch:
      max_completion_time_seconds: 60
      retries: 0
  stage_2:
    executable_module_path: stage_2/serve.py
    args: ["5000"]
    cpu_request: 0.1
    memory_request_mb: 50
    service:
      max_startup_time_seconds: 60
      replicas: 2
      port: 5000
      ingress: true
logging:
  log_level: INFO
"""

TRAIN = """\
import hashlib, os, pathlib, sys
out, factor = pathlib.Path(sys.argv[1]), sys.argv[2]
digest = hashlib.sha256(os.environ["API_KEY"].encode()).hexdigest()
(out / "trained").write_text(f"{factor} {digest}")
print("trained with factor", factor)
"""

SERVE = """\
import http.server, json, sys

class Score(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = json.dumps({"y": body["x"] * 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Score).serve_forever()
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-classic-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """The CLI on the test's namespace, set up by ``bodywork configure-cluster``."""
    run = bodywork_cli(k8s_kubeconfig, kube.namespace, tmp_path / "state")
    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return run


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def classic_project(folder: Path, out: Path) -> str:
    """The 1.1 project, committed: its commit."""
    (folder / "stage_1").mkdir(parents=True)
    (folder / "stage_2").mkdir()
    (folder / "bodywork.yaml").write_text(CONFIG.format(out=out), encoding="utf-8")
    (folder / "stage_1" / "train.py").write_text(TRAIN, encoding="utf-8")
    (folder / "stage_2" / "serve.py").write_text(SERVE, encoding="utf-8")
    return git_commit(folder, "a Bodywork 1.1 project")


def ours(kube: Kube) -> list[str]:
    """Our Jobs and ConfigMaps (run records, plans) in the namespace."""
    found = [j.metadata.name for j in jobs(kube)]
    maps = kube.core.list_namespaced_config_map(kube.namespace, label_selector=OURS).items
    return sorted(found + [m.metadata.name for m in maps])


def test_a_bodywork_1_1_project_deploys_unchanged_from_its_remote(
    bw: Bodywork, kube: Kube, shared: Path, tmp_path: Path
) -> None:
    out = shared / "out"
    out.mkdir()
    folder = tmp_path / "classic"  # under /tmp: the pods cannot see it
    sha = classic_project(folder, out)
    kube.core.create_namespaced_secret(
        kube.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="test-credentials"),  # GROUP-NAME, as Bodywork
            string_data={"API_KEY": SECRET_VALUE},
        ),
    )

    # not pushed yet: refused before anything is made
    before = ours(kube)
    refused = bw("deploy", str(folder))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert (
        f"commit {sha[:8]} of {folder.resolve()} is on no remote the cluster can reach - push "
        "it (git push), or deploy a URL the cluster can reach" in refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert ours(kube) == before

    remote = shared / "classic.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(folder, "remote", "add", "origin", str(remote))
    git(folder, "push", "-q", "-u", "origin", "HEAD")

    result = bw("deploy", str(folder))

    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)
    assert f"{folder.resolve()} at {sha[:8]} from remote origin ({remote.as_uri()})" in (
        result.stdout
    )
    url = f"http://stage-2.{kube.namespace}.svc.cluster.local:5000"
    assert f"stage_2 is serving at {url}" in result.stdout, result.stdout
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    assert (out / "trained").read_text() == f"42 {digest}"  # args and the secret reached it

    answer = wait_for(
        "stage-2 to answer through the service proxy",
        lambda: answer_or_none(lambda: proxy_post(kube, "stage-2", 5000, "/score", {"x": 21})),
        timeout=30,
    )
    assert answer == {"y": 42}

    # Bodywork's own image cannot run our runner: every pod runs ours instead
    (version,) = kube.apps.list_namespaced_deployment(kube.namespace).items
    assert version.spec.replicas == 2 and version.status.ready_replicas == 2
    batch_jobs = jobs(kube, "bodywork.dev/stage=stage-1")
    images = {c.image for j in batch_jobs for c in j.spec.template.spec.containers}
    images |= {c.image for c in version.spec.template.spec.containers}
    assert images == {DEFAULT_IMAGE}
    (ingress,) = client.NetworkingV1Api(kube.api).list_namespaced_ingress(kube.namespace).items
    (path,) = ingress.spec.rules[0].http.paths
    assert path.backend.service.name == "stage-2" and path.backend.service.port.number == 5000

    runs = bw("get", "runs")
    assert runs.returncode == 0, runs.stderr
    (row,) = [line for line in runs.stdout.splitlines() if line.startswith(run_id)]
    assert row.split()[1:3] == ["classic", "deployed"]
    log = bw("logs", run_id, "stage_1")
    # log_level INFO: the runner's own INFO lines come first, then what the module printed
    assert log.stdout.strip().splitlines()[-1] == "trained with factor 42", log.stdout
    for shown in (result.stdout, result.stderr, runs.stdout, log.stdout):
        assert SECRET_VALUE not in shown

    deleted = bw("delete", "deployment", "classic")
    assert deleted.returncode == 0, deleted.stderr
    assert kube.apps.list_namespaced_deployment(kube.namespace).items == []
