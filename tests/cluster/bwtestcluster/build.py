"""Build the control-plane binary once and cache it by Kubernetes and Go version."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bwtestcluster.config import CLUSTER_DIR, Config

BINARY = "k8s-testcluster"


def go_binary() -> str:
    """``go`` on PATH, else the official tarball's place."""
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", str(Path.home() / "go/bin/go")):
        if Path(candidate).exists():
            return candidate
    return "go"


def go_version() -> str:
    try:
        out = subprocess.run(
            [go_binary(), "env", "GOVERSION"], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(
            "the Go toolchain is needed to build the test cluster: install Go 1.26+ "
            "and put `go` on PATH"
        ) from exc
    return out


def source_digest() -> str:
    """A digest of what the binary is built from (go.mod, go.sum, our Go sources)."""
    digest = hashlib.sha256()
    files = [CLUSTER_DIR / "go.mod", CLUSTER_DIR / "go.sum", *sorted(CLUSTER_DIR.glob("cmd/**/*.go"))]
    for path in files:
        digest.update(path.relative_to(CLUSTER_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def binary_path(config: Config, go: str | None = None) -> Path:
    """Cached per Kubernetes version, Go version and source digest."""
    key = f"{config.k8s_version}-{go or go_version()}-{source_digest()}"
    return config.cache_dir / key / BINARY


def ensure_binary(config: Config, *, quiet: bool = False) -> Path:
    """Return the cached binary, building it first if needed (minutes, once)."""
    path = binary_path(config)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it
        if path.exists():
            return path
        version = config.k8s_version
        major, minor = version.lstrip("v").split(".")[:2]
        pkg = "k8s.io/component-base/version"
        ldflags = (
            f"-s -w -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} "
            f"-X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
        )
        tmp = path.with_suffix(".tmp")
        cmd = [
            "nice", "-n", "10", go_binary(), "build", "-trimpath", "-ldflags", ldflags,
            "-o", str(tmp), "./cmd/k8s-testcluster",
        ]  # fmt: skip
        if not quiet:
            print(
                f"building the control plane ({version}, {path.parent.name}); "
                "a cold build takes 5-10 minutes on 2 cores, a rebuild seconds",
                file=sys.stderr,
            )
        started = time.monotonic()
        env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
        result = subprocess.run(cmd, cwd=CLUSTER_DIR, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"go build failed ({result.returncode}): {' '.join(cmd)}")
        tmp.rename(path)
        if not quiet:
            print(f"built {path} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return path
