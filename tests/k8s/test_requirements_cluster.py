"""Requirements on the test cluster mean what they mean locally: a Bodywork 1.1 project
resolves as of its commit's date, and an install that cannot succeed fails once, in one
line. The stage pods install from the package registry (the cluster's egress reaches it).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import Bodywork, bodywork_cli, jobs, run_id_of, shared_folder
from k8s_helpers import Kube

pytestmark = pytest.mark.k8s

CONFIG = """\
version: "1.1"
pipeline:
  name: {name}
  docker_image: bodyworkml/bodywork-core:3.0
  DAG: probe
stages:
  probe:
    executable_module_path: probe.py
    requirements:
      - {requirement}
    cpu_request: 0.1
    memory_request_mb: 50
    batch:
      max_completion_time_seconds: 120
      retries: {retries}
logging:
  log_level: INFO
"""

PROBE = "import flask, importlib.metadata as m\nprint('werkzeug', m.version('werkzeug'))\n"


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-requirements-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    run = bodywork_cli(k8s_kubeconfig, kube.namespace, tmp_path / "state")
    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return run


def _pushed(folder: Path, remote: Path, when: str) -> str:
    """``folder`` committed as of ``when`` and pushed to a bare ``remote`` the pods see."""
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}

    def git(*args: str, where: Path = folder) -> str:
        done = subprocess.run(
            ["git", "-C", str(where), *args], check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    git("init", "-q")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "test")
    git("add", "-A")
    git("commit", "-q", "-m", "as it was")
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git("remote", "add", "origin", str(remote))
    git("push", "-q", "-u", "origin", "HEAD")
    return git("rev-parse", "HEAD")


def test_a_1_1_project_resolves_as_of_its_commit_on_the_cluster(
    bw: Bodywork, shared: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "bodywork.yaml").write_text(
        CONFIG.format(name="old-flask", requirement="flask==2.1.2", retries=0)
    )
    (folder / "probe.py").write_text(PROBE)
    sha = _pushed(folder, shared / "old.git", "2022-06-01T12:00:00+00:00")

    result = bw("deploy", str(folder), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resolved as of 2022-06-01, the date of commit {sha[:8]}" in result.stderr
    log = bw("logs", run_id_of(result), "probe")
    assert "werkzeug 2." in log.stdout, log.stdout


def test_an_install_that_cannot_succeed_fails_once_on_the_cluster(
    bw: Bodywork, kube: Kube, shared: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "missing"
    folder.mkdir()
    (folder / "bodywork.yaml").write_text(
        CONFIG.format(name="missing", requirement="bodywork-no-such-package-x7q==1.0", retries=2)
    )
    (folder / "probe.py").write_text(PROBE)
    _pushed(folder, shared / "missing.git", "2024-01-10T12:00:00+00:00")

    result = bw("deploy", str(folder), timeout=300)
    assert result.returncode != 0, result.stdout
    said = [line for line in result.stderr.splitlines() if line.startswith("error: probe: ")]
    assert len(said) == 1, result.stderr
    assert (
        "installing requirements failed: bodywork-no-such-package-x7q: no such package" in said[0]
    )
    assert len(jobs(kube, "bodywork.dev/stage=probe")) == 1  # not retried: one attempt's Job
