"""``bodywork-runner --self-check``: is this a working stage image?

Checks what a stage and the in-cluster controller need, and prints one line per check
(``ok``/``FAIL``, what was found) then a JSON summary on the last line: the runner's
packages import (with their versions), uv is there (stage environments), git and ssh run
(private remotes), ``bodywork-controller`` starts, and the user is not root (the
manifests' securityContext runs stages as uid 1000). Exit 0 when all pass, else 1.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

#: (module to import, distribution whose version is reported)
RUNTIME_MODULES = (
    ("papermill", "papermill"),
    ("ipykernel", "ipykernel"),
    ("git", "GitPython"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("httptools", "httptools"),
    ("uvloop", "uvloop"),
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str


def run_checks() -> list[Check]:
    checks = [_python()]
    checks += [_module(module, dist) for module, dist in RUNTIME_MODULES]
    checks += [_uv(), _command("git", ["git", "--version"]), _command("ssh", ["ssh", "-V"])]
    checks += [_controller(), _user()]
    return checks


def main() -> int:
    checks = run_checks()
    for check in checks:
        print(f"{'ok' if check.ok else 'FAIL':4} {check.name}: {check.found}")
    passed = all(check.ok for check in checks)
    print(json.dumps({"ok": passed, "checks": [asdict(check) for check in checks]}))
    return 0 if passed else 1


def _python() -> Check:
    from bodywork_runner import __version__

    return Check(
        "runner", True, f"bodywork-runner {__version__} on Python {sys.version.split()[0]}"
    )


def _module(module: str, dist: str) -> Check:
    try:
        importlib.import_module(module)
        return Check(dist, True, importlib.metadata.version(dist))
    except Exception as exc:  # any failure to import is the finding
        return Check(dist, False, f"does not import {module}: {exc!r}")


def _uv() -> Check:
    from bodywork_runner.environment import find_uv

    uv = find_uv()
    if uv is None:
        return Check("uv", False, "not found (stage environments fall back to venv + pip)")
    return _command("uv", [uv, "--version"])


def _command(name: str, argv: list[str], *, expect: Callable[[str], bool] = bool) -> Check:
    if shutil.which(argv[0]) is None and not Path(argv[0]).is_absolute():
        return Check(name, False, f"{argv[0]} is not on PATH")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, False, f"{' '.join(argv)} failed: {exc}")
    text = (done.stdout or done.stderr).strip().splitlines()
    first = text[0] if text else ""
    if done.returncode != 0 or not expect(first):
        return Check(name, False, f"{' '.join(argv)} exited {done.returncode}: {first}")
    return Check(name, True, first)


def _controller() -> Check:
    # run as a program (its entry point), not imported: the runner knows no controller code
    return _command(
        "controller",
        ["bodywork-controller", "--help"],
        expect=lambda first: first.startswith("usage: bodywork-controller"),
    )


def _user() -> Check:
    uid = os.getuid()
    if uid == 0:
        return Check("user", False, "runs as root: the stage image's user is uid 1000")
    return Check("user", True, f"uid {uid}, gid {os.getgid()}")
