"""The stage image's definition, without building it: the wheel, the lock, the Dockerfile
kept in step with the Debian build, the names, and a missing tool (exit 2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bodywork_jupyter._version import __version__
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.image import rootfs
from bodywork_jupyter.image.build import ENTRYPOINT, LOCK, labels, pushed_name
from bodywork_jupyter.image.wheel import ENTRY_POINTS, write_wheel
from bodywork_jupyter.plan.kubernetes.options import DEFAULT_UID

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "runner" / "Dockerfile").read_text(encoding="utf-8")
PACKAGES = [ROOT / "bodywork_jupyter", ROOT / "runner" / "bodywork_runner"]


def _names(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("--"):
            found.add(
                re.split(r"[<>=!~;\s\[]", line, maxsplit=1)[0]
                .lower()
                .replace("_", "-")
                .replace(".", "-")
            )
    return found


def test_the_wheel_holds_both_packages_and_both_commands_and_is_reproducible(
    tmp_path: Path,
) -> None:
    first = write_wheel(PACKAGES, tmp_path / "a")
    second = write_wheel(PACKAGES, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert first.name == f"bodywork_stage-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(first).namelist()
    assert "bodywork_runner/cli.py" in names
    assert "bodywork_jupyter/backends/kubernetes/controller.py" in names
    assert "bodywork_jupyter/image/requirements.lock" in names
    assert not [
        n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/labextension/" in n
    ]
    entry_points = (
        zipfile.ZipFile(first)
        .read(f"bodywork_stage-{__version__}.dist-info/entry_points.txt")
        .decode()
    )
    for command, target in ENTRY_POINTS.items():
        assert f"{command} = {target}" in entry_points
    # the same commands the wheel of bodywork-jupyter declares
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for command, target in ENTRY_POINTS.items():
        assert f'{command} = "{target}"' in pyproject


def test_the_lock_pins_everything_the_list_names_with_hashes() -> None:
    wanted = _names((LOCK.parent / "requirements.in").read_text(encoding="utf-8"))
    lock = LOCK.read_text(encoding="utf-8")
    pinned = {
        re.split("==", line)[0].lower()
        for line in lock.splitlines()
        if "==" in line and not line.startswith(" ")
    }
    assert wanted <= pinned, f"regenerate the lock (its header says how): {sorted(wanted - pinned)}"
    blocks = re.split(r"\n(?=\S)", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)


def test_the_runner_needs_nothing_the_list_leaves_out() -> None:
    runner = (ROOT / "runner" / "pyproject.toml").read_text(encoding="utf-8")
    deps = re.search(r"dependencies = \[(.*?)\]", runner, re.S)
    assert deps
    needed = _names("\n".join(s.strip().strip('",') for s in deps.group(1).splitlines()))
    assert needed | {"uv"} <= _names((LOCK.parent / "requirements.in").read_text(encoding="utf-8"))


def test_the_dockerfile_builds_the_same_image() -> None:
    apt = re.search(r"apt-get install -y --no-install-recommends ([^\\&]+)", DOCKERFILE)
    assert apt
    # python3, libstdc++6 and ca-certificates come with python:X-slim
    assert set(apt.group(1).split()) == set(rootfs.PACKAGES) - {
        "python3",
        "libstdc++6",
        "ca-certificates",
    }
    assert "--require-hashes -r /tmp/requirements.lock" in DOCKERFILE
    assert "COPY bodywork_jupyter/image/requirements.lock" in DOCKERFILE
    assert "bodywork_jupyter/image/wheel.py" in DOCKERFILE
    for trim in rootfs.SITE_TRIMS:
        assert f"/opt/bodywork/lib/python*/site-packages/{trim}" in DOCKERFILE
    assert f"ARG VERSION={__version__}\n" in DOCKERFILE
    assert f"--uid {DEFAULT_UID}" in DOCKERFILE and rootfs.USER[1] == DEFAULT_UID
    assert f"USER {DEFAULT_UID}:{DEFAULT_UID}" in DOCKERFILE
    assert f"ENTRYPOINT {ENTRYPOINT}".replace("'", '"') in DOCKERFILE
    assert f"ARG PYTHON={rootfs.DEFAULT_PYTHON}\n" in DOCKERFILE
    for key in labels(__version__, "abc"):
        assert key in DOCKERFILE


def test_pushed_names_keep_the_path_and_tag() -> None:
    assert pushed_name("ghcr.io/bodywork-jupyter/stage-runner:0.1", "registry.corp:5000") == (
        "registry.corp:5000/bodywork-jupyter/stage-runner:0.1"
    )
    assert (
        pushed_name("stage-runner:0.1", "registry.corp/ml/") == "registry.corp/ml/stage-runner:0.1"
    )
    assert (
        pushed_name("team/stage-runner:0.1", "localhost:5000")
        == "localhost:5000/team/stage-runner:0.1"
    )


def test_the_base_is_keyed_by_what_goes_in_it() -> None:
    base = rootfs.Base.for_python("3.11")
    assert base.suite == "bookworm"
    assert rootfs.Base("bookworm", packages=(*rootfs.PACKAGES, "curl")).key != base.key
    argv = base.mmdebstrap(Path("/tmp/base.tar"))
    assert f"--include={','.join(rootfs.PACKAGES)}" in argv and argv[-3:-1] == [
        "bookworm",
        "/tmp/base.tar",
    ]
    with pytest.raises(BadInputError, match=r"--python 3\.9: the image's Python is Debian's"):
        rootfs.Base.for_python("3.9")


def test_a_missing_tool_exits_2_and_names_its_package(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no mmdebstrap, buildah, docker, podman...
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bodywork_jupyter",
            "image",
            "build",
            "--builder",
            "debian",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    if os.geteuid() == 0:
        assert "needs mmdebstrap" in done.stderr and "apt-get install mmdebstrap" in done.stderr
    else:
        assert "needs root" in done.stderr
