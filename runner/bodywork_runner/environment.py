"""The stage's Python environment: the runner's own, or a cached one with its requirements.

An environment lives in ``CACHE/envs/<sha256>``, the hash of the Python version, the
normalised requirements and the requirements file's text. It is built once, under a file
lock, with ``uv`` when it is available (else ``venv`` + pip), and is complete only once its
marker file exists: a build that died half way is removed and redone. A ``.pth`` file in
its site-packages appends the runner's own site-packages, so papermill and ipykernel are
there without being installed again, and the stage's own installs win.

The installer honours the usual settings from the environment: ``PIP_INDEX_URL``,
``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS`` and ``PIP_NO_INDEX`` (and their ``UV_``
twins) reach whichever installer runs. ``BODYWORK_RUNNER_INSTALLER=pip`` forces pip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import bodywork_runner
from bodywork_runner.errors import BadInput, StageFailed

log = logging.getLogger(__name__)

MARKER = ".bodywork-complete"
INSTALLER_ENV = "BODYWORK_RUNNER_INSTALLER"

# setting -> (uv flag, pip flag); each value may hold several entries, split on spaces
_INDEX_SETTINGS = {
    "INDEX_URL": ("--index-url", "--index-url"),
    "EXTRA_INDEX_URL": ("--extra-index-url", "--extra-index-url"),
    "FIND_LINKS": ("--find-links", "--find-links"),
}


@dataclass(frozen=True)
class StageEnvironment:
    python: str  # the interpreter that runs the stage
    cached: bool  # nothing was installed
    path: Path | None  # None: the runner's own interpreter


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("BODYWORK_CACHE_DIR") or Path(base) / "bodywork")


def requirement_lines(text: str) -> list[str]:
    """The meaningful lines of a requirements text (no blanks, no comments)."""
    lines = (line.split(" #", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def prepare_environment(
    requirements: list[str],
    requirements_file: str | None,
    project_dir: Path,
    cache_dir: str | None,
) -> StageEnvironment:
    """The environment the stage runs in; builds it when it is not in the cache yet."""
    wanted = sorted({line.strip() for line in requirements if line.strip()})
    file_text = ""
    file_path: Path | None = None
    if requirements_file:
        file_path = (project_dir / requirements_file).resolve()
        if not file_path.is_file():
            raise BadInput(
                f"requirements file {requirements_file} is not in the project - add it, or "
                f"remove requirements_file"
            )
        file_text = file_path.read_text(encoding="utf-8")
    if not wanted and not requirement_lines(file_text):
        return StageEnvironment(sys.executable, cached=True, path=None)

    key = hashlib.sha256(
        json.dumps(
            {
                "python": sys.version,
                "platform": sysconfig.get_platform(),
                "runner": sys.prefix,
                "requirements": wanted,
                "requirements_file": file_text,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    envs = (Path(cache_dir) if cache_dir else default_cache_dir()) / "envs"
    env_dir = envs / key
    python = str(env_dir / "bin" / "python")
    if (env_dir / MARKER).is_file():
        return StageEnvironment(python, cached=True, path=env_dir)

    envs.mkdir(parents=True, exist_ok=True)
    with (envs / f"{key}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another stage is building the same environment: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (env_dir / MARKER).is_file():
            return StageEnvironment(python, cached=True, path=env_dir)
        if env_dir.exists():
            log.info("removing an unfinished environment %s", env_dir)
            shutil.rmtree(env_dir)
        started = time.monotonic()
        try:
            _build(env_dir, wanted, file_path, project_dir)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        _link_runner_packages(env_dir)
        (env_dir / MARKER).write_text(
            json.dumps({"requirements": wanted, "requirements_file": file_text}, indent=1)
        )
        log.info("environment %s ready in %.1f s", env_dir, time.monotonic() - started)
    return StageEnvironment(python, cached=False, path=env_dir)


def find_uv() -> str | None:
    if os.environ.get(INSTALLER_ENV, "").lower() == "pip":
        return None
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _build(env_dir: Path, wanted: list[str], file_path: Path | None, cwd: Path) -> None:
    python = str(env_dir / "bin" / "python")
    packages = [*wanted, *(["-r", str(file_path)] if file_path else [])]
    uv = find_uv()
    if uv:
        log.info("installing %s with uv into %s", " ".join(packages), env_dir)
        _run([uv, "venv", "--quiet", "--no-config", "--python", sys.executable, str(env_dir)], cwd)
        flags = _index_flags(use_uv=True)
        _run([uv, "pip", "install", "--no-config", "--python", python, *flags, *packages], cwd)
    else:
        log.info("installing %s with pip into %s", " ".join(packages), env_dir)
        _run([sys.executable, "-m", "venv", str(env_dir)], cwd)
        flags = _index_flags(use_uv=False)
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        _run([*pip, *flags, *packages], cwd)


def _index_flags(*, use_uv: bool) -> list[str]:
    """Installer flags for the index settings given to the *other* installer."""
    own, other = ("UV_", "PIP_") if use_uv else ("PIP_", "UV_")
    flags: list[str] = []
    for setting, (uv_flag, pip_flag) in _INDEX_SETTINGS.items():
        value = os.environ.get(other + setting)
        if value and not os.environ.get(own + setting):
            for entry in (
                value.replace(",", " ").split() if setting == "FIND_LINKS" else value.split()
            ):
                flags += [uv_flag if use_uv else pip_flag, entry]
    no_index = os.environ.get(other + "NO_INDEX", "").lower() in {"1", "true", "yes", "on"}
    if no_index and not os.environ.get(own + "NO_INDEX"):
        flags.append("--no-index")
    return flags


def _run(command: list[str], cwd: Path) -> None:
    # The installer's output is log: it goes to stderr, away from the event lines.
    result = subprocess.run(command, cwd=cwd, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise StageFailed(
            "error",
            f"installing the stage's requirements failed ({Path(command[0]).name} exited "
            f"{result.returncode}) - see the log above",
        )


def runner_site_dirs() -> list[str]:
    """The folders the runner imports its own packages from."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        dirs.append(site.getusersitepackages())
    package_parent = str(Path(bodywork_runner.__file__).resolve().parent.parent)
    if not any(Path(package_parent) == Path(d).resolve() for d in dirs):
        dirs.append(package_parent)  # the runner runs from a source tree
    return dirs


def _link_runner_packages(env_dir: Path) -> None:
    purelib = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = [f"import site; site.addsitedir({d!r})" for d in runner_site_dirs()]
    (Path(purelib) / "_bodywork_runner_packages.pth").write_text("\n".join(lines) + "\n")
