"""Helpers for deploying real projects on the local backend in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Bodywork:
    """The ``bodywork`` CLI against one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def __call__(self, *args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BODYWORK_STATE_DIR": str(self.state_dir), "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    def store(self):  # type: ignore[no-untyped-def]
        from bodywork_jupyter.engine.store import RunStore

        return RunStore(self.state_dir)


def events(bw: Bodywork, run_id: str) -> list[dict[str, object]]:
    store = bw.store()
    return [
        {"type": e.type, "stage": e.stage, "attempt": e.attempt, "time": e.time, **e.data}
        for e in store.events(run_id)
    ]


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    for line in result.stdout.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].rstrip(")")
    raise AssertionError(f"no run id in output:\n{result.stdout}\n{result.stderr}")


def delete_all(state_dir: Path) -> None:
    """Stop every supervisor started in ``state_dir``: nothing may outlive the tests."""
    if not (state_dir / "runs.sqlite").exists():
        return
    from bodywork_jupyter.targets import TargetOptions, open_target

    target = open_target(TargetOptions(state_dir=state_dir))
    try:
        for deployment in target.deployments():
            target.delete(deployment.name)
    finally:
        target.close()


def store_from_before_started_by(state_dir: Path, run_id: str) -> None:
    """A state folder as the store left it before runs recorded who started them (its
    schema without ``runs.started_by``), holding one succeeded run ``run_id``."""
    import sqlite3

    from bodywork_jupyter.engine.store import SCHEMA

    older = SCHEMA.replace(",\n    started_by TEXT\n", "\n")
    assert older != SCHEMA and "started_by" not in older
    state_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(state_dir / "runs.sqlite")
    db.executescript(older)
    db.execute(
        "INSERT INTO runs (id, deployment, status, created, source, plan)"
        " VALUES (?, 'demo', 'succeeded', 1, '{}', '{\"order\": [], \"stages\": {}}')",
        (run_id,),
    )
    db.commit()
    db.close()
