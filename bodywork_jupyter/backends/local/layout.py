"""Where the local target keeps things under its state folder (one place decides)."""

from __future__ import annotations

from pathlib import Path

#: The log of an attempt (the first replica's, for a service).
LOG = "log.txt"


def attempt_dir(state_dir: Path, run_id: str, stage: str, attempt: int) -> Path:
    return state_dir / "runs" / run_id / stage / f"attempt-{attempt}"


def data_dir(state_dir: Path, deployment: str) -> Path:
    """``BODYWORK_DATA_DIR``: shared by a deployment's stages, kept across its runs."""
    return state_dir / "deployments" / deployment / "data"


def cache_dir(state_dir: Path) -> Path:
    return state_dir / "cache"


def lock_file(state_dir: Path, deployment: str) -> Path:
    return state_dir / "locks" / f"{deployment}.lock"


def supervisor_log(state_dir: Path, deployment: str) -> Path:
    return state_dir / "supervisors" / f"{deployment}.log"


def secrets_dir(state_dir: Path) -> Path:
    """``bodywork secret`` on this machine: one file per secret, for the user's eyes only."""
    return state_dir / "secrets"
