"""The Python a stage asks for (``python: "3.9"``): the runner's own, or one found or fetched.

A version the runner runs itself (same major.minor) is the runner's interpreter. Another
one is looked up with ``uv python find`` (the ``PATH`` and uv's managed Pythons), then
downloaded with ``uv python install`` (which needs GitHub, not only a package index);
without uv only ``pythonX.Y`` on ``PATH`` counts. When none can be had, the error names
the version and how to get it: it is the same on every try, so it is bad input.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from bodywork_runner.errors import BadInput

log = logging.getLogger(__name__)

VERSION = re.compile(r"^3\.\d{1,2}(\.\d{1,3})?$")

#: Prints what the cache key needs to know of an interpreter: its version, its real path.
_ASK = (
    "import os, platform, sys; print(platform.python_version()); "
    "print(os.path.realpath(sys.executable))"
)


@dataclass(frozen=True)
class Interpreter:
    path: str  # the interpreter to build the stage environment from
    version: str  # e.g. "3.9.18"
    own: bool  # the runner's own major.minor: its packages can be linked into the env


def runner_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def same_minor(version: str) -> bool:
    """``version`` (3.9 or 3.9.18) names the runner's own major.minor."""
    return tuple(int(p) for p in version.split(".")[:2]) == sys.version_info[:2]


def find_python(request: str | None, uv: str | None) -> Interpreter:
    """The interpreter for ``request`` (None: the runner's); raises BadInput if none."""
    own = runner_version()
    if request is None or own == request or own.startswith(request + "."):
        return Interpreter(sys.executable, own, own=True)
    if not VERSION.match(request):
        raise BadInput(f"python {request!r} is not a Python version - write it as 3.9 or 3.9.18")
    path = _uv_find(uv, request) if uv else _on_path(request)
    if path is None and uv:
        path = _uv_install(uv, request)
    if path is None:
        raise BadInput(_missing(request, uv is not None))
    version, real = _ask(path)
    if not (version == request or version.startswith(request + ".")):
        raise BadInput(
            f"{path} is Python {version}, not {request} - check the interpreters on PATH"
        )
    return Interpreter(real, version, own=same_minor(version))


def _uv_find(uv: str, request: str) -> str | None:
    done = _quiet([uv, "python", "find", "--no-config", request])
    if done.returncode != 0:
        log.debug("uv found no Python %s: %s", request, _last_line(done.stderr))
        return None
    return done.stdout.strip() or None


def _uv_install(uv: str, request: str) -> str | None:
    log.info("Python %s is not on this machine: asking uv to download it", request)
    done = _quiet([uv, "python", "install", "--no-config", "--no-bin", request], timeout=600)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)  # the log keeps uv's reasons
        log.warning("uv could not download Python %s: %s", request, _last_line(done.stderr))
        return None
    return _uv_find(uv, request)


def _on_path(request: str) -> str | None:
    minor = ".".join(request.split(".")[:2])
    return shutil.which(f"python{minor}")


def _ask(path: str) -> tuple[str, str]:
    done = _quiet([path, "-c", _ASK])
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        raise BadInput(f"{path} does not run ({_last_line(done.stderr)}) - check that Python")
    return lines[0], lines[1]


def _quiet(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # a neutral folder: no project's .python-version or uv.toml decides for us
    try:
        return subprocess.run(
            command,
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 1, "", str(exc))


def _missing(request: str, have_uv: bool) -> str:
    minor = ".".join(request.split(".")[:2])
    fetched = (
        "and uv could not download it (Python downloads come from GitHub, not the package index)"
        if have_uv
        else "and without uv the runner cannot download one"
    )
    return (
        f"the stage needs Python {request}: it is not on the machine that runs the stage "
        f"(the runner there has Python {runner_version()}), {fetched} - install "
        f"Python {request} there (python{minor} on PATH: pyenv, the OS's packages, or "
        f"'uv python install {request}' where GitHub is reachable), or remove python: to run "
        f"on Python {runner_version()}"
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
