"""The peers that live in venvs of their own (git-ignored, made with uv on first use):
Ploomber, and papermill alone (the papermill CLI's control), for bench_dag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLOOMBER_VENV = ROOT / "benchmarks" / ".venv-ploomber"
PAPERMILL_VENV = ROOT / "benchmarks" / ".venv-papermill"


def ploomber_command() -> tuple[str | None, str]:
    """Ploomber lives in a venv of its own: it would slow down papermill in ours.

    (Its dependencies pull in ``rfc3987-syntax``, which builds a grammar on import:
    ``import papermill`` goes from ~0.4 s to ~1.6 s, and every runner imports papermill.)
    """
    return side_command(PLOOMBER_VENV, "ploomber", ["ploomber", "ipykernel"])


def lean_papermill_command() -> tuple[str | None, str]:
    """The papermill CLI in a venv of its own, with papermill and ipykernel only: the
    floor's control. In ours (JupyterLab's world: jupyter_events pulls in jsonschema's
    format checkers, rfc3987-syntax among them) every ``papermill`` command pays for
    imports a user with papermill alone would not."""
    return side_command(PAPERMILL_VENV, "papermill", ["papermill", "ipykernel"])


def side_command(venv: Path, name: str, packages: list[str]) -> tuple[str | None, str]:
    """``name``'s command in ``venv`` (git-ignored), made with uv on first use."""
    command = venv / "bin" / name
    if not command.exists():
        made = subprocess.run(
            [str(BIN / "uv"), "venv", "-q", "--python", sys.executable, str(venv)],
            capture_output=True,
            text=True,
        )
        installed = made.returncode == 0 and subprocess.run(
            [
                str(BIN / "uv"),
                "pip",
                "install",
                "-q",
                "--compile-bytecode",  # as our own venv (scripts/setup): a fair start
                "--python",
                str(venv / "bin" / "python"),
                *packages,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if not command.exists():
            why = (installed.stderr if installed else made.stderr) or f"no {name} command"
            return None, f"installing {name} into {venv} failed: {why[-1500:]}"
    return str(command), ""
