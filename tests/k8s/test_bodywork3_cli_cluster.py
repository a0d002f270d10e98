"""Bodywork 3's spellings on the test cluster: ``create deployment --async``, ``get
deployment NAME [SERVICE]`` read from the run records, and ``--ssh`` told where the key
belongs on a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bodywork_helpers import PREDICT, config, shared_folder, write_project
from k8s_helpers import Kube, wait_for

pytestmark = pytest.mark.k8s

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-bw3-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """``bw ARGS --target kubernetes --namespace <the test's>`` (Bodywork 3's alias)."""
    env = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
           "BODYWORK_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    env.pop("BODYWORK_DEBUG", None)
    alias = Path(sys.executable).parent / "bw"

    def run(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(alias), *args, "--target", "kubernetes", "--namespace", kube.namespace],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip

    assert run("configure-cluster").returncode == 0
    return run


def fields(text: str) -> dict[str, str]:
    return {
        k: v.strip()
        for k, _, v in (
            ln.partition(" ") for ln in text.splitlines() if ln and not ln.startswith(" ")
        )
    }


def test_get_deployment_in_detail_on_a_cluster(bw: Bodywork, kube: Kube, shared: Path) -> None:
    folder = shared / "calc"
    sha = write_project(
        folder,
        config("name: calc", prep="", serve="depends_on: [prep], service: {port: 8000}"),
        {"prep": ["print('prep says hello')"], "serve": ["FACTOR = 3", PREDICT]},
    )
    made = bw("create", "deployment", folder.as_uri(), "--async")
    assert made.returncode == 0, made.stdout + made.stderr
    run_id = made.stdout.split("(run ")[1].split(")")[0]
    assert f"follow it with: bodywork logs {run_id} --follow --target kubernetes" in made.stdout

    def serving() -> str | None:
        shown = bw("get", "deployment", "calc")
        return shown.stdout if "status       serving" in shown.stdout else None

    detail = wait_for("calc to serve", serving, timeout=120)
    url = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    head = fields(detail)
    assert head["target"] == f"kubernetes (namespace {kube.namespace})"
    assert head["source"] == f"{folder.as_uri()} at {sha[:8]}"
    assert head["serving"] == f"run {run_id} (commit {sha[:8]})"
    stages = detail.split(f"stages of run {run_id} (deployed):\n")[1].split("\n\n")[0]
    rows = {ln.split()[0]: ln.split() for ln in stages.splitlines()[1:]}
    assert rows["prep"][:4] == ["prep", "batch", "succeeded", "1"]
    assert rows["serve"][2] == "ready" and rows["serve"][-1] == url
    assert f"  serve            {url}  (port 8000, 1 replica)" in detail.splitlines()

    service = fields(bw("get", "deployment", "calc", "serve").stdout)
    assert (service["service"], service["url"], service["run"]) == ("serve", url, run_id)

    deleted = bw("delete", "deployment", "calc")
    assert deleted.returncode == 0, deleted.stderr


def test_ssh_on_a_cluster_says_where_the_key_belongs(
    bw: Bodywork, kube: Kube, shared: Path
) -> None:
    key = shared / "id_test"
    key.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nMARKER-77ab\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    refused = bw("create", "deployment", "git@git.example:org/repo.git", "--ssh", str(key))
    assert refused.returncode == 2
    where = f"--target kubernetes --namespace {kube.namespace}"
    assert (
        "--ssh: on --target kubernetes the stages' git key is kept in a Secret of the namespace, "
        "not sent with each deploy - keep it there once, then deploy without --ssh:\n"
        f"  bodywork secret create git-ssh --from-file BODYWORK_GIT_SSH_KEY={key} {where}\n"
        f"  bodywork configure-cluster --git-secret git-ssh {where}"
    ) in refused.stderr
    assert "MARKER-77ab" not in refused.stdout + refused.stderr
    # and what it says works
    kept = bw("secret", "create", "git-ssh", "--from-file", f"BODYWORK_GIT_SSH_KEY={key}")
    assert kept.returncode == 0, kept.stderr
    configured = bw("configure-cluster", "--git-secret", "git-ssh")
    assert configured.returncode == 0, configured.stderr
    assert "git-ssh" in configured.stdout
    for out in (kept, configured):
        assert "MARKER-77ab" not in out.stdout + out.stderr
