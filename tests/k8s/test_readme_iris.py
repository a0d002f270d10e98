"""The README's cluster walk-through, as written: examples/iris from a fresh clone, on the
test cluster.

``configure-cluster`` with a data claim (the stages share ``BODYWORK_DATA_DIR``, as on this
machine) and a cache claim (the requirements are installed once, from the package index,
for every pod), ``deploy examples/iris --target kubernetes`` from the clone (the folder's
commit is on its ``origin``, which the pods can reach), a prediction through ``bodywork
call`` (the API server's service proxy), and ``delete deployment`` leaving none of the
deployment's objects. The commands are the README's, only given the test's namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import ours_left, shared_folder
from k8s_helpers import Kube, wait_for

pytestmark = pytest.mark.k8s

ROOT = Path(__file__).resolve().parents[2]
FLOWER = {
    "sepal length (cm)": 6.7,
    "sepal width (cm)": 3.0,
    "petal length (cm)": 5.2,
    "petal width (cm)": 2.3,
}
#: The README's commands (its namespace is iris, the pipeline's name: no --namespace needed).
README_COMMANDS = [
    "bodywork configure-cluster --namespace iris --data-volume pvc:bodywork-data "
    "--cache-volume pvc:bodywork-cache",
    "bodywork deploy examples/iris --target kubernetes",
    "bodywork call iris --target kubernetes --data @examples/iris/flower.json",
    "bodywork delete deployment iris --target kubernetes",
]


@pytest.fixture
def clone() -> Iterator[Path]:
    """A fresh clone of this repository, where the pods can read its origin."""
    for folder in shared_folder("bodywork-readme-"):
        subprocess.run(
            ["git", "clone", "--quiet", str(ROOT), str(folder / "clone")],
            check=True,
            capture_output=True,
        )
        yield folder / "clone"


def test_the_readme_names_the_commands_tested_here() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    for command in README_COMMANDS:
        assert command in readme, command
    assert json.loads((ROOT / "examples/iris/flower.json").read_text()) == FLOWER


def test_iris_from_a_fresh_clone_serves_predictions_and_leaves_nothing(
    k8s_kubeconfig: str, kube: Kube, clone: Path
) -> None:
    env = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1"}

    def bodywork(command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        args = command.split()[1:]
        if "--namespace" in args:
            args[args.index("--namespace") + 1] = kube.namespace
        else:
            args += ["--namespace", kube.namespace]
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args],
            capture_output=True, text=True, env=env, cwd=clone, timeout=timeout,
        )  # fmt: skip

    configure, deploy, call, delete = README_COMMANDS
    result = bodywork(configure)
    assert result.returncode == 0, result.stderr
    assert "PersistentVolumeClaim/bodywork-data" in result.stdout

    result = bodywork(deploy, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from remote origin" in result.stdout
    assert "do not share BODYWORK_DATA_DIR" not in result.stderr + result.stdout
    url = f"http://predict.{kube.namespace}.svc.cluster.local:5000"
    assert url in result.stdout, result.stdout

    result = bodywork(call)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"species": "virginica", "label": 2}

    result = bodywork(delete)
    assert result.returncode == 0, result.stderr
    setup = [  # configure-cluster's: they stay for the next deploy
        "ConfigMap/bodywork-settings",
        "PersistentVolumeClaim/bodywork-cache",
        "PersistentVolumeClaim/bodywork-data",
        "Role/bodywork-controller",
        "RoleBinding/bodywork-controller",
        "ServiceAccount/bodywork-controller",
        "ServiceAccount/bodywork-stage",
    ]
    wait_for("only configure-cluster's objects to be left", lambda: ours_left(kube) == setup)
