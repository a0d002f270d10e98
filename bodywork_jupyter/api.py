"""The Python API: deploy from a notebook or a script and follow the run.

    import bodywork_jupyter as bw
    run = bw.deploy("examples/iris", params={"train.n_estimators": 200})
    run.wait()
    run.status, run.urls, run.logs("train")

A Run is a view of the run store: it never talks to processes, so it keeps
working after the kernel (or the Jupyter server) restarts: ``bw.get_run(id)``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bodywork_jupyter import deploying
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Deployment, Event, RunStore, StageState
from bodywork_jupyter.engine.store import Run as RunRecord
from bodywork_jupyter.errors import BadInputError


class Run:
    """A deployment run, read from the run store on every access."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self._store = store
        self.id = run_id
        record = store.get_run(run_id)
        if record is None:
            raise BadInputError(f"no run {run_id!r} - see bodywork get runs")
        self.deployment = record.deployment
        self.warnings: list[str] = []  # e.g. uncommitted changes that were not deployed

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.deployment} {self.status}>"

    @property
    def status(self) -> str:
        deploying.refresh(self._store)
        record = self._store.get_run(self.id)
        assert record is not None
        return record.status

    @property
    def message(self) -> str:
        record = self._store.get_run(self.id)
        return record.message if record else ""

    @property
    def record(self) -> RunRecord:
        """The stored run: its plan (stages and their dependencies), times and message."""
        record = self._store.get_run(self.id)
        assert record is not None
        return record

    @property
    def state_dir(self) -> Path:
        """The state folder this run lives in (open it again with ``get_run(id, state_dir)``)."""
        return self._store.state_dir

    @property
    def settled(self) -> bool:
        """Finished, or deployed with every service ready."""
        status = self.status
        return status in states.RUN_FINISHED or status == states.DEPLOYED

    @property
    def stages(self) -> list[StageState]:
        return self._store.stages(self.id)

    @property
    def urls(self) -> dict[str, str]:
        return {s.stage: s.url for s in self.stages if s.url and s.status == states.READY}

    def events(self, after: int = 0) -> list[Event]:
        return self._store.events(self.id, after)

    def wait(self, timeout: float | None = None, poll: float = 0.2) -> Run:
        """Block until the run settles; raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.settled:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.id} is still {self.status} after {timeout}s")
            time.sleep(poll)
        return self

    def logs(self, stage: str | None = None) -> str:
        """The log text of one stage, or of every stage (prefixed by its name)."""
        parts = []
        for state in self.stages:
            if stage is not None and state.stage != stage:
                continue
            if state.log_path and Path(state.log_path).exists():
                text = Path(state.log_path).read_text(encoding="utf-8", errors="replace")
                lines = [ln for ln in text.splitlines() if not ln.startswith("::bodywork-event::")]
                if stage is None:
                    lines = [f"{state.stage}| {ln}" for ln in lines]
                parts.append("\n".join(lines))
        return "\n".join(p for p in parts if p)

    def cancel(self) -> None:
        record = self._store.get_run(self.id)
        assert record is not None
        deploying.cancel_run(self._store, record)


def deploy(
    path: str | Path = ".",
    *,
    branch: str | None = None,
    commit: str | None = None,
    target: str = "local",
    params: Mapping[str, Any] | Sequence[str] | None = None,
    max_parallel: int = 4,
    state_dir: str | Path | None = None,
    wait: bool = False,
) -> Run:
    """Deploy the pipeline in ``path`` (a folder or git URL); returns at once unless ``wait``.

    ``params`` maps ``"stage.name"`` to a value (or is a list of ``STAGE.NAME=VALUE``).
    """
    if isinstance(params, Mapping):
        import json

        items = [f"{key}={json.dumps(value)}" for key, value in params.items()]
    else:
        items = list(params or [])
    prepared = deploying.prepare(str(path), branch, commit, items)
    store = _store(state_dir)
    record = deploying.submit(store, prepared, target, max_parallel)
    run = Run(store, record.id)
    run.warnings = list(prepared.warnings)
    return run.wait() if wait else run


def get_run(ref: str, state_dir: str | Path | None = None) -> Run:
    """A run by id, id prefix, or deployment name (its current run)."""
    store = _store(state_dir)
    return Run(store, deploying.find_run(store, ref).id)


def deployments(state_dir: str | Path | None = None) -> list[Deployment]:
    return _store(state_dir).deployments()


def delete(name: str, state_dir: str | Path | None = None) -> Deployment:
    """Stop a deployment's services and free their ports (its history is kept)."""
    return deploying.delete_deployment(_store(state_dir), name)


def _store(state_dir: str | Path | None) -> RunStore:
    store = RunStore(Path(state_dir) if state_dir else None)
    deploying.refresh(store)
    return store
