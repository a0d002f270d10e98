"""Stage pods in the real stage image: the test cluster's container mode.

The test's namespace carries ``testcluster.bodywork.dev/runtime: container``, so the node
agent runs its pods' containers under podman in their images (runc, the pod's network
namespace, its volumes, environment, limits and security context) instead of as
processes of this machine. The image is the one ``bodywork image build`` makes here
(``tests/image/image_helpers``, cached). Nothing of this machine's filesystem is shared
with the containers: the code comes from a git daemon on the node's bridge address (a
git server the pods reach over the pod network, as they would any), the requirements
from the package index (the cluster's egress).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bodywork_helpers import config, write_project
from k8s_helpers import Kube, wait_for
from kubernetes import client

from tests.image.image_helpers import Image, local_registry

pytestmark = pytest.mark.k8s

ROOT = Path(__file__).resolve().parents[2]
#: The address of this machine on the pod network (bwtestcluster.Config.bridge_ip).
BRIDGE_IP = "10.244.0.1"
RUNTIME_LABEL = "testcluster.bodywork.dev/runtime"  # bwtestcluster.agent.containers
FLOWER = ROOT / "examples" / "iris" / "flower.json"

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def in_containers(kube: Kube) -> Kube:
    """The test's namespace, its pods run in their images."""
    kube.core.patch_namespace(
        kube.namespace, {"metadata": {"labels": {RUNTIME_LABEL: "container"}}}
    )
    return kube


class GitDaemon:
    """``git daemon`` on the bridge address, serving bare repositories (git://)."""

    def __init__(self, served: Path, port: int) -> None:
        self.served = served
        self.base = f"git://{BRIDGE_IP}:{port}"

    def publish(self, source: Path, name: str) -> str:
        """A bare copy of ``source`` served as ``name``: its URL (pods fetch the pinned
        commit itself, not a branch)."""
        bare = self.served / f"{name}.git"
        subprocess.run(["git", "clone", "--quiet", "--bare", str(source), str(bare)], check=True)
        subprocess.run(
            ["git", "-C", str(bare), "config", "uploadpack.allowReachableSHA1InWant", "true"],
            check=True,
        )
        return f"{self.base}/{name}.git"


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    served = tmp_path / "served"
    served.mkdir()
    port = _free_port(BRIDGE_IP)
    log_path = tmp_path / "git-daemon.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
             f"--listen={BRIDGE_IP}", f"--port={port}", str(served)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection((BRIDGE_IP, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        pytest.fail(f"git daemon did not start: {log_path.read_text()}")
                    time.sleep(0.1)
            yield GitDaemon(served, port)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)


@pytest.fixture
def clone(tmp_path: Path, git_daemon: GitDaemon) -> Path:
    """A clone of this repository whose origin is the git daemon."""
    url = git_daemon.publish(ROOT, "bodywork-jupyter")
    subprocess.run(["git", "clone", "--quiet", url, str(tmp_path / "clone")], check=True)
    return tmp_path / "clone"


@pytest.fixture
def bw(k8s_kubeconfig: str, in_containers: Kube, tmp_path: Path) -> Bodywork:
    """``bodywork ARGS --namespace <the test's>`` (run outside the clone, so that
    ``python -m`` imports this working tree's package, not the clone's), in a namespace
    configure-cluster set up with a data and a cache claim (as the README does)."""
    env = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
           "BODYWORK_STATE_DIR": str(tmp_path / "state")}  # fmt: skip

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--namespace", in_containers.namespace],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout,
        )  # fmt: skip

    done = run("configure-cluster", "--data-volume", "pvc:bodywork-data",
               "--cache-volume", "pvc:bodywork-cache")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return run


def test_iris_runs_in_the_stage_image_and_its_service_answers(
    bw: Bodywork, in_containers: Kube, stage_image: Image, clone: Path
) -> None:
    kube = in_containers
    done = bw("deploy", str(clone / "examples" / "iris"), "--target", "kubernetes",
              "--image", stage_image.tag,
              timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "from remote origin" in done.stdout

    # the stage pods ran in the image: podman's image id, not the process mode's stand-in
    pods = kube.pods("app.kubernetes.io/managed-by=bodywork-jupyter")
    serving = [p for p in pods if p.metadata.labels.get("bodywork.dev/stage") == "predict"]
    assert serving, [p.metadata.name for p in pods]
    for pod in pods:
        for status in pod.status.container_statuses or []:
            assert status.image == stage_image.tag, status
            assert status.image_id and not status.image_id.startswith("bodywork-testcluster/")

    called = bw("call", "iris", "--target", "kubernetes", "--data", f"@{FLOWER}")
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"species": "virginica", "label": 2}

    deleted = bw("delete", "deployment", "iris", "--target", "kubernetes")
    assert deleted.returncode == 0, deleted.stderr


def test_a_missing_image_is_err_image_pull_within_seconds(
    bw: Bodywork, in_containers: Kube, stage_image: Image, tmp_path: Path, git_daemon: GitDaemon
) -> None:
    """A stage whose image no registry has fails with ErrImagePull as its reason; a
    deploy whose controller's image is missing is lost with it (not queued for ever)."""
    missing = "localhost/bodywork-no-such-image:0"
    project = tmp_path / "project"
    stages = {"fine": "", "pulled": f"image: {missing!r}, depends_on: [fine]"}
    write_project(project, config("name: missing", **stages), {
        "fine": ["print('in the image')"], "pulled": ["print('never')"],
    })  # fmt: skip
    _publish(project, git_daemon, "missing")

    started = time.monotonic()
    done = bw("deploy", str(project), "--target", "kubernetes", "--image", stage_image.tag,
              timeout=300)  # fmt: skip
    took = time.monotonic() - started
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    failed = [line for line in said.splitlines() if "pulled" in line and "FAILED" in line]
    assert failed and "ErrImagePull" in failed[0] and missing in failed[0], said
    assert took < 120, f"the deploy took {took:.0f} s to fail"
    events = in_containers.core.list_namespaced_event(in_containers.namespace).items
    messages = [e.message or "" for e in events if e.reason == "Failed"]
    assert any(f'Failed to pull image "{missing}"' in m for m in messages), messages

    # the controller itself in a missing image: lost with the reason, its Job deleted
    started = time.monotonic()
    done = bw("deploy", str(project), "--target", "kubernetes", "--image", missing, timeout=300)
    took = time.monotonic() - started
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert "LOST: its controller cannot start" in said and "ErrImagePull" in said, said
    assert took < 120, f"the deploy took {took:.0f} s to fail"
    run_id = re.search(r"\(run (\S+)\)", said).group(1)  # type: ignore[union-attr]

    def controllers() -> list[object]:
        return in_containers.batch.list_namespaced_job(
            in_containers.namespace,
            label_selector=f"app.kubernetes.io/component=controller,bodywork.dev/run={run_id}",
        ).items

    wait_for("the lost run's controller Job to go", lambda: not controllers(), timeout=60)


def _publish(project: Path, git_daemon: GitDaemon, name: str) -> None:
    """``project`` served by the git daemon, as its origin (the deploy's remote)."""
    url = git_daemon.publish(project, name)
    subprocess.run(["git", "-C", str(project), "remote", "add", "origin", url], check=True)
    subprocess.run(["git", "-C", str(project), "fetch", "--quiet", "origin"], check=True)


def _pull_secret(registry: str, user: str, password: str) -> dict[str, str]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {registry: {"auth": auth}}}
    return {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}


def test_an_image_from_a_private_registry_is_pulled_with_the_pull_secret(
    bw: Bodywork, in_containers: Kube, stage_image: Image, tmp_path: Path, git_daemon: GitDaemon
) -> None:
    """The image only in a registry that asks for credentials: refused without the pull
    secret (ErrImagePull, unauthorized), pulled and run with ``--image-pull-secret``."""
    import bcrypt

    kube = in_containers
    password = secrets.token_urlsafe(16)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    project = tmp_path / "project"
    write_project(
        project, config("name: pulled", hello=""), {"hello": ["print('hello from the image')"]}
    )
    _publish(project, git_daemon, "pulled")
    folder = tmp_path / "registry"
    folder.mkdir()
    with local_registry(folder, stage_image.env, f"puller:{hashed}") as registry:
        private = f"{registry.address}/bodywork/stage-runner:pulled"
        pushed = subprocess.run(
            ["podman", "push", "--quiet", "--creds", f"puller:{password}", stage_image.tag, private],
            env=registry.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        kube.core.create_namespaced_secret(
            kube.namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="regcred"),
                type="kubernetes.io/dockerconfigjson",
                data=_pull_secret(registry.address, "puller", password),
            ),
        )

        refused = bw(
            "deploy", str(project), "--target", "kubernetes", "--image", private, timeout=300
        )
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0, said
        assert "ErrImagePull" in said and "unauthorized" in said.lower(), said

        done = bw("deploy", str(project), "--target", "kubernetes", "--image", private,
                  "--image-pull-secret", "regcred", timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        logs = bw("logs", "pulled", "--target", "kubernetes")
        assert "hello from the image" in logs.stdout, logs.stdout + logs.stderr
        assert password not in done.stdout + done.stderr + logs.stdout
        subprocess.run(["podman", "rmi", private], env=registry.env, capture_output=True)
