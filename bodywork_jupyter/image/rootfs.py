"""The image's filesystem from Debian's packages: a base made by mmdebstrap (cached, keyed
by what goes in it) and the layer that holds our Python environment, made in a chroot.

The base holds Debian's python3, git and openssh-client (private remotes), tini (PID 1)
and ca-certificates, without apt, docs, man pages or locales. The layer holds a venv at
``/opt/bodywork`` (the lock's packages, hashes required, then our wheel with
``--no-deps``; no bytecode, no pip, no cache) and the user ``bodywork`` (uid 1000).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bodywork_jupyter.errors import BadInputError, BodyworkError

#: the Python a Debian release ships -> that release (the image's Python is Debian's)
SUITES = {"3.11": "bookworm", "3.13": "trixie"}
DEFAULT_PYTHON = "3.11"
MIRROR = "http://deb.debian.org/debian"
# libstdc++6: pyzmq (the kernel's transport) links it
PACKAGES = ("python3", "libstdc++6", "git", "openssh-client", "tini", "ca-certificates")
# dpkg never unpacks these: the image is run, not read by people
_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/share/bash-completion/*",
    "/usr/share/perl5/Git/SVN*",
)
# removed once installed: what a stage never runs. Full perl (git's porcelain scripts need
# it; clone, fetch and checkout are C), git's server and mail programs, glibc's iconv
# modules (UTF-8 is built in). The perl-base of dpkg stays.
_TRIMS = (
    "/usr/share/perl",
    "/usr/lib/*/perl",
    "/usr/lib/*/libperl.so*",
    "/usr/lib/*/gconv",
    "/usr/bin/scalar",
    "/usr/bin/git-shell",
    "/usr/lib/git-core/scalar",
    "/usr/lib/git-core/git-shell",
    "/usr/lib/git-core/git-http-backend",
    "/usr/lib/git-core/git-http-push",
    "/usr/lib/git-core/git-imap-send",
    "/usr/lib/git-core/git-daemon",
    "/usr/share/gitweb",
    "/var/cache/debconf/*-old",
    "/var/log/*",
)
VENV = "/opt/bodywork"
# removed from the venv once installed (74 MB of its 200): the Kubernetes client's asyncio
# copy (the controller uses the sync client) and jedi's type stubs (completion, which a
# papermill kernel is never asked for)
SITE_TRIMS = ("kubernetes/aio", "jedi/third_party")
USER = ("bodywork", 1000)

Run = Callable[[list[str], Mapping[str, str] | None], None]


@dataclass(frozen=True)
class Base:
    """What the base is made of; its key names its cache entry."""

    suite: str
    mirror: str = MIRROR
    packages: tuple[str, ...] = PACKAGES
    excludes: tuple[str, ...] = _EXCLUDES
    trims: tuple[str, ...] = _TRIMS

    @classmethod
    def for_python(cls, python: str, mirror: str = MIRROR) -> Base:
        if python not in SUITES:
            known = ", ".join(sorted(SUITES))
            raise BadInputError(
                f"--python {python}: the image's Python is Debian's, and a Debian release "
                f"ships {known} - give one of those"
            )
        return cls(SUITES[python], mirror)

    @property
    def key(self) -> str:
        """A hash of the command that makes the base: any change to it is a new base."""
        text = json.dumps(self.mmdebstrap(Path("BASE.tar")))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def mmdebstrap(self, out: Path) -> list[str]:
        """The mmdebstrap command that writes the base as a tar file at ``out``."""
        return [
            "mmdebstrap",
            "--quiet",
            # Essential packages and ours: no apt, no init, nothing else
            "--variant=essential",
            f"--include={','.join(self.packages)}",
            *(f"--dpkgopt=path-exclude={pattern}" for pattern in self.excludes),
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--aptopt=APT::Install-Recommends false",
            "--customize-hook=rm -rf " + " ".join(f'"$1"{path}' for path in self.trims),
            self.suite,
            str(out),
            self.mirror,
        ]


def ensure_base(base: Base, cache_dir: Path, run: Run) -> tuple[Path, bool]:
    """The base's tar file in ``cache_dir`` (made now if missing, replacing an older base of
    the release) and whether it was cached."""
    tar = cache_dir / f"base-{base.suite}-{base.key}.tar"
    if tar.is_file():
        return tar, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = tar.with_suffix(".partial.tar")
    partial.unlink(missing_ok=True)
    run(base.mmdebstrap(partial), None)
    for older in cache_dir.glob(f"base-{base.suite}-*.tar"):  # one base per release
        if older != partial:
            older.unlink()
    partial.rename(tar)
    return tar, False


def make_layer(
    base_tar: Path, wheel: Path, lock: Path, uv: str, cache_dir: Path, out: Path, run: Run
) -> None:
    """Writes ``out``: the venv and the user, made in a chroot of the base.

    uv (this machine's, copied in for the install) downloads into a cache kept in
    ``cache_dir`` between builds; it is moved in and out of the chroot, never left in it.
    """
    work = cache_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    root.mkdir(parents=True)
    uv_cache = cache_dir / "uv-cache"
    uv_cache.mkdir(exist_ok=True)
    try:
        run(["tar", "-C", str(root), "-xf", str(base_tar)], None)
        build = root / "tmp" / "build"
        build.mkdir(parents=True)
        shutil.copy2(uv, build / "uv")
        shutil.copy2(wheel, build / wheel.name)
        shutil.copy2(lock, build / "requirements.lock")
        shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
        # this machine's CAs, for downloads through a proxy that re-signs TLS (never kept)
        shutil.copy2(_ca_bundle(), build / "ca.crt")
        uv_cache.rename(build / "uv-cache")
        try:
            env = {
                "PATH": "/usr/bin:/bin",
                "HOME": "/tmp/build",
                "UV_CACHE_DIR": "/tmp/build/uv-cache",
                "UV_LINK_MODE": "hardlink",  # the cache is on the chroot's filesystem
                "UV_NO_PROGRESS": "1",
                "SSL_CERT_FILE": "/tmp/build/ca.crt",
                **_passed_env(),
            }
            chroot = [shutil.which("chroot") or "/usr/sbin/chroot", str(root)]
            run([*chroot, "/usr/bin/python3", "-m", "venv", "--without-pip", VENV], env)
            uv_pip = [*chroot, "/tmp/build/uv", "pip", "install", "--quiet", "--python", VENV]
            run([*uv_pip, "--require-hashes", "-r", "/tmp/build/requirements.lock"], env)
            run([*uv_pip, "--no-deps", f"/tmp/build/{wheel.name}"], env)
        finally:
            (build / "uv-cache").rename(uv_cache)
        shutil.rmtree(build)
        (root / "etc" / "resolv.conf").unlink()
        for site in root.joinpath(VENV.lstrip("/"), "lib").glob("python3*/site-packages"):
            for trim in SITE_TRIMS:
                shutil.rmtree(site / trim, ignore_errors=True)
        _add_user(root)
        run(
            [
                "tar", "-C", str(root), "--numeric-owner", "-cf", str(out),
                VENV.lstrip("/"), "etc/passwd", "etc/group", f"home/{USER[0]}",
            ],
            None,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _add_user(root: Path) -> None:
    name, uid = USER
    with (root / "etc" / "passwd").open("a", encoding="utf-8") as passwd:
        passwd.write(f"{name}:x:{uid}:{uid}::/home/{name}:/bin/sh\n")
    with (root / "etc" / "group").open("a", encoding="utf-8") as group:
        group.write(f"{name}:x:{uid}:\n")
    home = root / "home" / name
    (home / ".cache").mkdir(parents=True)
    for path in (home, home / ".cache"):
        os.chown(path, uid, uid)


def _ca_bundle() -> str:
    named = os.environ.get("SSL_CERT_FILE")
    if named and Path(named).is_file():
        return named
    return "/etc/ssl/certs/ca-certificates.crt"


def _passed_env() -> dict[str, str]:
    """The index and proxy settings of this machine, for uv in the chroot (a mirror of PyPI
    in an air-gapped network is named with UV_DEFAULT_INDEX or UV_INDEX_URL)."""
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
    return {
        key: value
        for key, value in os.environ.items()
        if key in names or (key.startswith("UV_") and "CACHE" not in key)
    }


def run_quietly(argv: list[str], env: Mapping[str, str] | None) -> None:
    """Runs a build step; its output is shown only when it fails."""
    try:
        done = subprocess.run(
            argv, env=dict(env) if env is not None else None, capture_output=True, text=True
        )
    except OSError as exc:
        raise BuildStepError(argv, 127, str(exc)) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BuildStepError(argv, done.returncode, tail)


class BuildStepError(BodyworkError):
    """A step of the build failed (exit 1): its command and the end of its output."""

    def __init__(self, argv: list[str], code: int, tail: str) -> None:
        shown = " ".join(argv[:4]) + (" ..." if len(argv) > 4 else "")
        super().__init__(f"{shown} failed (exit {code}):\n{tail}")
