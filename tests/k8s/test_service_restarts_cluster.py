"""A service that dies after it was ready, on the cluster: its Deployment restarts it, and
``bodywork get deployments`` says ``failing`` meanwhile (as it does locally), then
``serving`` again once the restarted pod is ready."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bodywork_helpers import config, shared_folder, write_project
from k8s_helpers import Kube, wait_for

pytestmark = pytest.mark.k8s

Bodywork = Callable[..., subprocess.CompletedProcess[str]]

#: Serves, and dies with code 3 whenever the file DIE exists (checked five times a second).
DYING = """
import os, pathlib, threading, time
DIE = pathlib.Path({die!r})

def watch():
    while True:
        if DIE.exists():
            print("told to die", flush=True)
            os._exit(3)
        time.sleep(0.2)

threading.Thread(target=watch, daemon=True).start()

def predict(request):
    return {{"ok": True}}
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-restarts-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    env = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
           "BODYWORK_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    env.pop("BODYWORK_DEBUG", None)

    def run(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", "kubernetes",
             "--namespace", kube.namespace],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip

    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stderr
    return run


def listed(bw: Bodywork, name: str) -> tuple[str, str]:
    """(its STATUS, the whole listing) from ``get deployments``."""
    result = bw("get", "deployments")
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        if line.split()[:1] == [name]:
            return line.split()[1], result.stdout
    raise AssertionError(result.stdout)


def test_a_service_restarted_by_its_deployment_reads_failing(bw: Bodywork, shared: Path) -> None:
    die = shared / "die"
    write_project(
        shared / "wobbly",
        config("name: wobbly", serve="service: {port: 8000}"),
        {"serve": [DYING.format(die=str(die))]},
    )
    deployed = bw("deploy", (shared / "wobbly").as_uri())
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert listed(bw, "wobbly")[0] == "serving"

    die.touch()

    def failing() -> str | None:
        status, shown = listed(bw, "wobbly")
        return shown if status == "failing" else None

    shown = wait_for("the deployment to read failing", failing, timeout=60)
    assert "serve: pod " in shown and "exited with code 3 (Error)" in shown, shown
    assert "its Deployment restarted it" in shown

    die.unlink()
    wait_for("serving again", lambda: listed(bw, "wobbly")[0] == "serving", timeout=90)
    assert bw("delete", "deployment", "wobbly").returncode == 0
