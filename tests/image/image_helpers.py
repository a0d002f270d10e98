"""The stage image for a test session: built here (the debian builder, its cache kept), and
run with rootful podman, runc and explicit rlimits (the only way podman runs containers on
these machines: ../shared/notes/kubernetes-here.md). Used by this tier and by the k8s
tier's test of the controller in the image."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bodywork_jupyter.image.build import BuildResult

TOOLS = ("mmdebstrap", "buildah", "podman", "runc", "chroot", "docker-registry")
TAG = "localhost/bodywork-stage-runner:tier-test"
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


def missing() -> str | None:
    """Why the image cannot be built and run here, or None."""
    if os.geteuid() != 0:
        return "the image tier needs root (a chroot, rootful podman)"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed (scripts/setup-image installs them)"
    return None


@dataclass(frozen=True)
class Image:
    tag: str
    env: dict[str, str]  # CONTAINERS_CONF for podman
    build: BuildResult

    def run(
        self,
        *args: str,
        volumes: tuple[str, ...] = (),
        user: str | None = None,
        entrypoint: str | None = None,
        network: str = "none",
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        argv = ["podman", "run", "--rm", "--network", network]
        if user is not None:
            argv += ["--user", user]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        for volume in volumes:
            argv += ["--volume", volume]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        return subprocess.run(
            [*argv, self.tag, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )


@dataclass(frozen=True)
class Registry:
    address: str  # host:port
    env: dict[str, str]  # CONTAINERS_CONF, and CONTAINERS_REGISTRIES_CONF: it is plain HTTP


@contextmanager
def local_registry(
    folder: Path, podman_env: dict[str, str], htpasswd: str | None = None
) -> Iterator[Registry]:
    """A registry of our own (Debian's ``docker-registry``) on loopback, plain HTTP; with
    ``htpasswd`` (a line ``user:bcrypt-hash``) it asks for those credentials."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    auth = ""
    if htpasswd is not None:
        (folder / "htpasswd").write_text(htpasswd + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {folder / 'htpasswd'}\n"
    config = folder / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: {address}\n{auth}"
    )
    registries = folder / "registries.conf"
    registries.write_text(f'[[registry]]\nlocation = "{address}"\ninsecure = true\n')
    log_path = folder / "registry.log"
    with log_path.open("w") as log:
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
                        raise RuntimeError(
                            f"the registry did not start: {log_path.read_text()}"
                        ) from None
                    time.sleep(0.1)
            yield Registry(address, {**podman_env, "CONTAINERS_REGISTRIES_CONF": str(registries)})
        finally:
            server.terminate()
            server.wait(timeout=10)


@contextmanager
def tier_image(folder: Path, tag: str = TAG) -> Iterator[Image]:
    """Builds the image as ``tag`` (seconds when the cache is warm); removes the tag after."""
    from bodywork_jupyter.image.build import CACHE_DIR, BuildRequest, build_image

    conf = folder / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    cache = Path(os.environ.get("BODYWORK_IMAGE_CACHE") or CACHE_DIR)
    result = build_image(BuildRequest(tag=tag, builder="debian", cache_dir=cache))
    try:
        yield Image(tag, env, result)
    finally:
        subprocess.run(["podman", "rmi", "--force", tag], env=env, capture_output=True)
