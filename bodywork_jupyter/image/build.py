"""``bodywork image build``: the stage image, from Debian's packages or from the Dockerfile.

Two builders make the same image from the same list (``requirements.lock``) and the same
wheel (``wheel``):

- ``debian``: a base from Debian's packages (mmdebstrap, cached in ``cache_dir``), our
  layer made in a chroot, the image assembled by buildah. Needs root, mmdebstrap and
  buildah; no container registry and no Docker engine.
- ``dockerfile``: ``docker build`` or ``podman build`` with ``runner/Dockerfile`` (a
  source checkout; its base, ``python:X-slim``, is pulled from Docker Hub).

``auto`` takes ``debian`` where its tools are and this is root, else ``dockerfile``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bodywork_jupyter
import bodywork_runner
from bodywork_jupyter._version import __version__
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.image import rootfs, tools
from bodywork_jupyter.image.wheel import write_wheel
from bodywork_jupyter.plan import DEFAULT_IMAGE

Builder = Literal["auto", "debian", "dockerfile"]
CACHE_DIR = Path("/var/cache/bodywork-image")
LOCK = Path(__file__).with_name("requirements.lock")
SOURCE = "https://github.com/bodywork-jupyter/bodywork-jupyter"
ENTRYPOINT = ["/usr/bin/tini", "--", "bodywork-runner"]
ENV = {
    "PATH": f"{rootfs.VENV}/bin:/usr/local/bin:/usr/bin:/bin",
    "PYTHONUNBUFFERED": "1",
    "BODYWORK_CACHE_DIR": "/home/bodywork/.cache/bodywork",
    "HOME": "/home/bodywork",
    # uv trusts the system's store (ca-certificates), not only its own copy of Mozilla's:
    # a corporate or proxy CA added to the image, or mounted over its bundle, is used
    "UV_NATIVE_TLS": "1",
}


@dataclass(frozen=True)
class BuildRequest:
    tag: str = DEFAULT_IMAGE
    push: str | None = None  # a registry (host[:port][/path]): the image goes there too
    python: str = rootfs.DEFAULT_PYTHON
    builder: Builder = "auto"
    cache_dir: Path = CACHE_DIR
    debian_mirror: str = rootfs.MIRROR  # the debian builder's package mirror


@dataclass
class BuildResult:
    tag: str
    builder: str
    version: str
    commit: str | None
    pushed: str | None = None
    base_cached: bool | None = None
    layer_cached: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)


Say = Callable[[str], None]


def build_image(request: BuildRequest, say: Say = lambda _: None) -> BuildResult:
    """Builds (and pushes) the image; raises ToolMissingError (exit 2) or BuildStepError."""
    builder = _choose(request.builder)
    commit = source_commit()
    result = BuildResult(request.tag, builder, __version__, commit)
    started = time.monotonic()
    if builder == "debian":
        _build_debian(request, result, say)
    else:
        _build_dockerfile(request, result, say)
    if request.push:
        result.pushed = _push(builder, request.tag, request.push, say)
    result.seconds["total"] = round(time.monotonic() - started, 1)
    return result


def labels(version: str, commit: str | None) -> dict[str, str]:
    found = {
        "org.opencontainers.image.title": "bodywork-jupyter stage runner",
        "org.opencontainers.image.description": (
            "Runs bodywork-jupyter's stages (bodywork-runner) and its in-cluster "
            "controller (bodywork-controller)"
        ),
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.licenses": "AGPL-3.0-or-later",
    }
    if commit:
        found["org.opencontainers.image.revision"] = commit
    return found


def pushed_name(tag: str, registry: str) -> str:
    """``tag`` in ``registry``: its registry host (if any) replaced, its path and tag kept."""
    path = tag.split("/", 1)[1] if _has_registry(tag) else tag
    return f"{registry.rstrip('/')}/{path}"


def source_commit() -> str | None:
    """The commit of the checkout the packages come from (None for an installed wheel)."""
    root = _checkout()
    if root is None or shutil.which("git") is None:
        return None
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _choose(builder: Builder) -> str:
    if builder != "auto":
        return builder
    debian_tools = all(shutil.which(t) for t in ("mmdebstrap", "buildah", "chroot"))
    if debian_tools and os.geteuid() == 0:
        return "debian"
    if _engine() is not None and _checkout() is not None:
        return "dockerfile"
    if os.geteuid() != 0:
        raise BadInputError(
            "bodywork image build needs root for the build from Debian's packages (a chroot), "
            "or Docker/podman and a source checkout for the Dockerfile: run it as root, or "
            "build runner/Dockerfile with your builder"
        )
    for tool in ("mmdebstrap", "buildah", "chroot"):
        tools.require(tool, "the build from Debian's packages")
    raise AssertionError("unreachable: one of the tools above is missing")


def _build_debian(request: BuildRequest, result: BuildResult, say: Say) -> None:
    if os.geteuid() != 0:
        raise BadInputError("the build from Debian's packages needs root (it uses a chroot)")
    for tool, why in (
        ("mmdebstrap", "it makes the base from Debian's packages"),
        ("buildah", "it makes the OCI image"),
        ("chroot", "the venv is made in the base"),
        ("tar", "layers are tar files"),
    ):
        tools.require(tool, why)
    base = rootfs.Base.for_python(request.python, request.debian_mirror)
    request.cache_dir.mkdir(parents=True, exist_ok=True)
    # one build at a time per cache: they share its work folder and uv's cache
    with (request.cache_dir / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_debian_locked(request, base, result, say)


def _build_debian_locked(
    request: BuildRequest, base: rootfs.Base, result: BuildResult, say: Say
) -> None:
    run = rootfs.run_quietly
    with _step(result, "base", say, f"base: Debian {base.suite} ({base.key})"):
        base_tar, result.base_cached = rootfs.ensure_base(base, request.cache_dir, run)
    base_image = f"localhost/bodywork-stage-base:{base.suite}-{base.key}"
    with _step(result, "base_image", say, f"base image {base_image}"):
        if not _buildah_has(base_image):
            ctr = _buildah("from", "scratch")
            _buildah("add", ctr, str(base_tar), "/")
            _buildah("commit", "--quiet", "--rm", ctr, base_image)
    with tempfile.TemporaryDirectory(prefix="bodywork-image-") as tmp:
        with _step(result, "wheel", say, "wheel: bodywork_runner and bodywork_jupyter"):
            wheel = write_wheel(_packages(), Path(tmp))
        with _step(result, "layer", say, f"layer: {rootfs.VENV} from requirements.lock"):
            layer, result.layer_cached = _layer(base, base_tar, wheel, request.cache_dir)
        with _step(result, "image", say, f"image {request.tag}"):
            replaced = _image_id(request.tag)
            ctr = _buildah("from", "--pull=never", base_image)
            try:
                _buildah("add", ctr, str(layer), "/")
                _buildah("config", *_config_args(result), ctr)
                built = _buildah("commit", "--quiet", ctr, request.tag)
            finally:
                _buildah("rm", ctr)
            if replaced and not built.startswith(replaced):
                # the image this tag named before, unless another tag or a container holds it
                subprocess.run(["buildah", "rmi", replaced], capture_output=True)


def _layer(base: rootfs.Base, base_tar: Path, wheel: Path, cache_dir: Path) -> tuple[Path, bool]:
    """Our layer's tar file, kept in ``cache_dir`` by what goes in it (the base, the lock,
    the wheel, the trims): an unchanged source is not installed again. Older layers of the
    same Debian release are removed."""
    uv = _uv()
    digest = hashlib.sha256()
    for part in (base.key, *rootfs.SITE_TRIMS, uv_version(uv)):
        digest.update(part.encode() + b"\0")
    digest.update(LOCK.read_bytes() + b"\0" + wheel.read_bytes())
    tar = cache_dir / f"layer-{base.suite}-{digest.hexdigest()[:16]}.tar"
    if tar.is_file():
        return tar, True
    partial = tar.with_suffix(".partial.tar")
    try:
        rootfs.make_layer(base_tar, wheel, LOCK, uv, cache_dir, partial, rootfs.run_quietly)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    for older in cache_dir.glob(f"layer-{base.suite}-*.tar"):
        if older != partial:
            older.unlink()
    partial.rename(tar)
    return tar, False


def uv_version(uv: str) -> str:
    done = subprocess.run([uv, "--version"], capture_output=True, text=True)
    return done.stdout.strip()


def _config_args(result: BuildResult) -> list[str]:
    args = [
        "--user", f"{rootfs.USER[1]}:{rootfs.USER[1]}",
        "--workingdir", f"/home/{rootfs.USER[0]}",
        "--entrypoint", _json_list(ENTRYPOINT),
        "--cmd", "",
        "--stop-signal", "SIGTERM",
    ]  # fmt: skip
    for key, value in ENV.items():
        args += ["--env", f"{key}={value}"]
    for key, value in labels(result.version, result.commit).items():
        args += ["--label", f"{key}={value}"]
    return args


def _build_dockerfile(request: BuildRequest, result: BuildResult, say: Say) -> None:
    root = _checkout()
    if root is None:
        raise BadInputError(
            "the Dockerfile build needs a source checkout of bodywork-jupyter (runner/Dockerfile); "
            "this one is installed from a wheel: use the build from Debian's packages "
            "(--builder debian, as root) or clone the repository"
        )
    engine = _engine()
    if engine is None:
        tools.require(
            "podman", "the Dockerfile build needs a Docker engine that answers, or podman"
        )
        raise AssertionError("unreachable: a docker client without its engine, and no podman")
    argv = [engine, "build", "-f", str(root / "runner" / "Dockerfile"), "-t", request.tag]
    argv += ["--build-arg", f"PYTHON={request.python}", "--build-arg", f"VERSION={__version__}"]
    argv += ["--build-arg", f"COMMIT={result.commit or ''}"]
    if engine == "podman":  # docker (BuildKit) finds runner/Dockerfile.dockerignore itself
        argv += ["--ignorefile", str(root / "runner" / "Dockerfile.dockerignore")]
    argv.append(str(root))
    with _step(result, "image", say, f"{engine} build -f runner/Dockerfile"):
        rootfs.run_quietly(argv, None)


def _push(builder: str, tag: str, registry: str, say: Say) -> str:
    target = pushed_name(tag, registry)
    if builder == "debian":
        argv = ["buildah", "push", tag, f"docker://{target}"]
    else:
        engine = _engine() or "docker"
        rootfs.run_quietly([engine, "tag", tag, target], None)
        argv = [engine, "push", target]
    say(f"push {target}")
    rootfs.run_quietly(argv, None)
    return target


class _step:
    """Says a step, times it into ``result.seconds[name]``."""

    def __init__(self, result: BuildResult, name: str, say: Say, text: str) -> None:
        self.result, self.name, self.say, self.text = result, name, say, text

    def __enter__(self) -> None:
        self.say(self.text)
        self.started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.result.seconds[self.name] = round(time.monotonic() - self.started, 1)


def _engine() -> str | None:
    """docker when its engine answers (a client alone does not build), else podman."""
    if shutil.which("docker"):
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
        if done.returncode == 0:
            return "docker"
    return "podman" if shutil.which("podman") else None


def _buildah(*args: str) -> str:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise rootfs.BuildStepError(["buildah", *args], done.returncode, done.stderr.strip())
    return done.stdout.strip()


def _image_id(image: str) -> str | None:
    done = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", image],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _buildah_has(image: str) -> bool:
    done = subprocess.run(["buildah", "inspect", "--type", "image", image], capture_output=True)
    return done.returncode == 0


def _packages() -> list[Path]:
    return [Path(bodywork_jupyter.__file__).parent, Path(bodywork_runner.__file__).parent]


def _checkout() -> Path | None:
    root = Path(bodywork_jupyter.__file__).resolve().parent.parent
    return root if (root / "runner" / "Dockerfile").is_file() else None


def _uv() -> str:
    from uv import find_uv_bin  # uv is one of bodywork-jupyter's dependencies

    return str(find_uv_bin())


def _has_registry(tag: str) -> bool:
    first = tag.split("/", 1)[0]
    return "/" in tag and ("." in first or ":" in first or first == "localhost")


def _json_list(items: list[str]) -> str:
    import json

    return json.dumps(items)
