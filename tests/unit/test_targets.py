"""The target seam: the registry, typed options, and per-target source rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bodywork_jupyter import deploying
from bodywork_jupyter.backends.local.target import LocalTarget
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.targets import TargetOptions, open_target, registry
from tests.projects import notebook, write_yaml

YAML = 'version: "2.0"\npipeline: {name: seam}\nstages: {a: {path: a.ipynb}}\n'


class GitOnlyTarget(LocalTarget):
    """A target whose stages fetch their code with git (as a cluster's do)."""

    name = "gitonly"
    requires_git = True


@pytest.fixture
def gitonly() -> object:
    registry.register(
        "gitonly", lambda options: GitOnlyTarget(options.model_copy(update={"name": "local"}))
    )
    yield
    registry.unregister("gitonly")


def cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_registry_opens_local_and_refuses_unknown_targets(tmp_path: Path) -> None:
    target = open_target(TargetOptions(state_dir=tmp_path))
    assert isinstance(target, LocalTarget) and target.state_dir == tmp_path.resolve()
    with pytest.raises(
        BadInputError,
        match="--target argo: deploying to Argo Workflows is not available yet - export",
    ):
        open_target(TargetOptions(name="argo"))
    with pytest.raises(
        BadInputError, match=r"--target nowhere: no such target \(targets: local, kubernetes, k8s"
    ):
        open_target(TargetOptions(name="nowhere"))
    assert {"local", "kubernetes", "k8s"} <= set(registry.target_names())


@pytest.mark.parametrize("name", ["kubernetes", "k8s"])
def test_kubernetes_without_a_cluster_is_a_clear_error(tmp_path: Path, name: str) -> None:
    """No kubeconfig and not inside a cluster: exit 3, saying what to do, for every command."""
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "missing"), "NO_COLOR": "1"}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    for args in (
        ["get", "runs"],
        ["get", "deployments"],
        ["cancel", "x"],
        ["delete", "deployment", "x"],
        ["configure-cluster", "--namespace", "ml"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", name],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "no kubeconfig found" in result.stderr and "KUBECONFIG" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_local_target_needs_no_set_up(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--target local needs no set-up"):
        open_target(TargetOptions(state_dir=tmp_path)).configure()
    result = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "configure-cluster", "--target", "local"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "BODYWORK_STATE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--target local needs no set-up" in result.stderr


def test_cluster_options_are_refused_by_the_local_target(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--namespace prod: applies to a cluster target"):
        open_target(TargetOptions(namespace="prod", state_dir=tmp_path))


def test_every_cli_command_takes_the_target(tmp_path: Path) -> None:
    for args in (
        ["get", "runs"],
        ["get", "deployments"],
        ["logs", "x"],
        ["cancel", "x"],
        ["delete", "deployment", "x"],
        ["deploy", str(tmp_path)],
    ):
        result = cli(*args, "--target", "argo", state_dir=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "--target argo: deploying to Argo Workflows is not available yet" in result.stderr
        assert "bodywork export argo" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_plain_folder_cannot_go_to_a_target_that_fetches_with_git(
    tmp_path: Path, gitonly: object
) -> None:
    project = tmp_path / "plain"
    notebook(project / "a.ipynb", "print(1)")
    write_yaml(project, YAML)
    target = open_target(TargetOptions(name="gitonly", state_dir=tmp_path / "state"))
    with pytest.raises(BadInputError, match=r"is not in a git repository.*git commit"):
        deploying.prepare(str(project), target=target)
    # the same folder is fine on this machine
    local = open_target(TargetOptions(state_dir=tmp_path / "state"))
    prepared = deploying.prepare(str(project), target=local)
    assert prepared.plan.source.local_path == str(project.resolve())
