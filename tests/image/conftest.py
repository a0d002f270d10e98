"""The image tier: the stage image built here from Debian's packages, run under podman.

One build per session (``bodywork image build``'s module, the Debian builder, its cache in
/var/cache/bodywork-image or $BODYWORK_IMAGE_CACHE, so a warm build takes seconds); every
container runs with runc and explicit rlimits and no network (``image_helpers``).

A registry of our own (Debian's ``docker-registry``, on loopback, plain HTTP) takes pushes.
Needs root, mmdebstrap, buildah, podman, runc and docker-registry (``scripts/setup-image``);
without them the tier is left out, except in CI where it fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.image.image_helpers import Image, missing, tier_image

MISSING = missing()
if MISSING and not os.environ.get("CI"):
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header() -> str | None:
    if MISSING and not os.environ.get("CI"):
        return f"image tier (tests/image) left out: {MISSING}"
    return None


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    if MISSING:
        pytest.fail(f"{MISSING}: CI must run every tier", pytrace=False)
    with tier_image(tmp_path_factory.mktemp("podman")) as built:
        yield built


@dataclass(frozen=True)
class Registry:
    address: str  # host:port
    env: dict[str, str]  # CONTAINERS_CONF, and CONTAINERS_REGISTRIES_CONF: it is plain HTTP


@pytest.fixture
def registry(image: Image, tmp_path: Path) -> Iterator[Registry]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: {address}\n"
    )
    registries = tmp_path / "registries.conf"
    registries.write_text(f'[[registry]]\nlocation = "{address}"\ninsecure = true\n')
    log = (tmp_path / "registry.log").open("w")
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(
                        f"the registry did not start: {(tmp_path / 'registry.log').read_text()}"
                    )
                time.sleep(0.1)
        yield Registry(address, {**image.env, "CONTAINERS_REGISTRIES_CONF": str(registries)})
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
