"""Fixtures for the runner tier: real kernels, real processes, real git and a real wheel."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_helpers import RunningRunner

TINY_VERSION = "0.1.0"


@pytest.fixture(scope="session")
def tiny_wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one tiny wheel, ``bwtiny``, written offline."""
    folder = tmp_path_factory.mktemp("wheels")
    name = f"bwtiny-{TINY_VERSION}"
    files = {
        "bwtiny/__init__.py": b'VALUE = "tiny-42"\n',
        f"{name}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: bwtiny\nVersion: {TINY_VERSION}\n"
        ).encode(),
        f"{name}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: bodywork-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}.dist-info/RECORD,,")
    files[f"{name}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(folder / f"{name}-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return folder


@pytest.fixture
def background() -> Iterator[list[RunningRunner]]:
    """Runners started by a test; killed at its end if they still run."""
    started: list[RunningRunner] = []
    yield started
    for runner in started:
        runner.stop()
