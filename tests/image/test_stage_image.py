"""The stage image, built from Debian's packages and run as its own user under podman."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from conftest import Registry

from bodywork_jupyter._version import __version__
from bodywork_jupyter.image.build import source_commit
from tests.image.image_helpers import Image

#: what the image may weigh (276 MB in December 2026: a 131 MB Debian base, the venv)
SIZE_BUDGET_MB = 300


def _inspect(image: Image) -> dict[str, object]:
    done = subprocess.run(
        ["podman", "image", "inspect", image.tag],
        env=image.env,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout)[0]
    return found


def test_the_self_check_passes_as_the_image_user(image: Image) -> None:
    done = image.run("--self-check")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    checks = {check["name"]: check for check in summary["checks"]}
    assert summary["ok"] and all(check["ok"] for check in checks.values()), done.stdout
    assert checks["user"]["found"].startswith("uid 1000,")
    assert checks["runner"]["found"].startswith(f"bodywork-runner {__version__} on Python 3.11")
    assert checks["controller"]["found"].startswith("usage: bodywork-controller")


def test_as_the_manifests_user_too_and_never_as_root(image: Image) -> None:
    # the manifests' securityContext says runAsUser 1000 (plan/kubernetes/options.py)
    assert image.run("--self-check", user="1000:1000").returncode == 0
    as_root = image.run("--self-check", user="0")
    assert as_root.returncode == 1
    assert "FAIL user: runs as root" in as_root.stdout


def test_the_image_says_what_it_is(image: Image) -> None:
    found = _inspect(image)
    config = found["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == ["/usr/bin/tini", "--", "bodywork-runner"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    commit = source_commit()
    assert commit and labels["org.opencontainers.image.revision"] == commit
    size_mb = int(str(found["Size"])) / 1e6
    assert size_mb < SIZE_BUDGET_MB, f"the image grew to {size_mb:.0f} MB"


def test_no_docs_no_caches_no_bytecode_in_our_layer(image: Image) -> None:
    script = (
        "find /opt/bodywork /home/bodywork -name __pycache__ -o -name '*.pyc' | head -3;"
        "ls /opt/bodywork/bin | grep -x pip;"
        "find /usr/share/doc -type f ! -name copyright | head -3;"
        "find /usr/share/man /usr/share/locale -type f | head -3;"
        "ls /usr/bin/apt /usr/bin/pip3 2>/dev/null"
    )
    done = image.run("-c", script, entrypoint="/bin/sh")
    assert done.stdout.strip() == "", done.stdout


def test_a_notebook_stage_runs_in_the_image(image: Image, tmp_path: Path) -> None:
    """The runner, papermill and a kernel, as uid 1000: what a batch pod does."""
    project = tmp_path / "project"
    project.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nb.cells.append(
        nbformat.v4.new_code_cell("import sys, os\nprint('uid', os.getuid(), sys.version_info[:2])")
    )
    nbformat.write(nb, str(project / "train.ipynb"))
    spec = {
        "pipeline": "demo",
        "stage": "train",
        "kind": "batch",
        "file": "train.ipynb",
        "source": {"local_path": "/work/project"},
        "run_id": "run-1",
        "attempt": 1,
        "artifacts_dir": "/work/artifacts",
        "cache_dir": "/work/cache",
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    for path in (tmp_path, project, *project.iterdir(), tmp_path / "spec.json"):
        os.chown(path, 1000, 1000)
    done = image.run("/work/spec.json", volumes=(f"{tmp_path}:/work",))
    events = [
        json.loads(line.split(" ", 1)[1])
        for line in done.stdout.splitlines()
        if line.startswith("::bodywork-event::")
    ]
    kinds = [event["event"] for event in events]
    assert done.returncode == 0 and kinds[-1] == "stage.succeeded", done.stdout + done.stderr
    output = nbformat.read(str(next((tmp_path / "artifacts").rglob("*.ipynb"))), as_version=4)
    assert "uid 1000 (3, 11)" in output.cells[0].outputs[0]["text"]


def test_build_pushes_to_a_registry_of_our_own(image: Image, registry: Registry) -> None:
    """``bodywork image build --push``: what an operator does for an air-gapped registry;
    a pull from there gives the same image, and it runs."""
    done = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "image", "build", "--tag", image.tag,
         "--push", registry.address],
        env=registry.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    pushed = f"{registry.address}/bodywork-stage-runner:tier-test"
    assert done.returncode == 0, done.stderr
    assert f"pushed {pushed}" in done.stdout + done.stderr
    pull = subprocess.run(
        ["podman", "pull", "--quiet", pushed], env=registry.env, capture_output=True, text=True
    )
    assert pull.returncode == 0, pull.stderr
    try:
        local = _inspect(image)
        assert pull.stdout.strip() == local["Id"]
        ran = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", pushed, "--self-check"],
            env=registry.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout
    finally:
        subprocess.run(["podman", "rmi", pushed], env=registry.env, capture_output=True)
