"""From a wheel into a fresh venv: the server extension is enabled and its API answers.

This is what a user gets from ``pip install .``: no editable install, no source tree
on the path, the extension enabled by the jupyter-config file the wheel ships.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.projects import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "wheel-test-token"


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is installed by scripts/setup"
    return found


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [uv(), "build", "--wheel", "--out-dir", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("bodywork_jupyter-*.whl")
    venv = work / "venv"
    subprocess.run([uv(), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def clean_env(venv: Path, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{venv / 'bin'}:/usr/bin:/bin", HOME=str(home), BODYWORK_STATE_DIR=str(home / "state")
    )
    return env


def test_the_extension_is_enabled_by_installing_the_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    listing = subprocess.run(
        [str(fresh_venv / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=clean_env(fresh_venv, tmp_path),
        timeout=120,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    assert "bodywork_jupyter enabled" in text, text
    assert re.search(r"bodywork_jupyter [0-9.]+ OK", text), text


@pytest.fixture
def jupyter_lab(fresh_venv: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    root = tmp_path / "root"
    root.mkdir()
    log = (tmp_path / "lab.log").open("w")
    process = subprocess.Popen(
        [
            str(fresh_venv / "bin" / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(fresh_venv, tmp_path),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError((tmp_path / "lab.log").read_text())
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_jupyter_lab_serves_the_api_with_auth(jupyter_lab: str) -> None:
    with urllib.request.urlopen(
        f"{jupyter_lab}/bodywork/api/deployments?token={TOKEN}", timeout=10
    ) as response:
        assert response.status == 200
        json.loads(response.read())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{jupyter_lab}/bodywork/api/deployments", timeout=10)
    assert refused.value.code == 403
    refused.value.close()
