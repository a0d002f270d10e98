"""The Python API: deploy from a notebook or a script and follow the run.

    import bodywork_jupyter as bw
    run = bw.deploy("examples/iris", params={"train.n_estimators": 200})
    run.wait()
    run.status, run.urls, run.logs("train")

A Run is a view of its target's records, read through the one read service
(``reader.RunReader``): it never talks to processes, so it keeps working after the
kernel (or the Jupyter server) restarts: ``bw.get_run(id)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from bodywork_jupyter import deploying
from bodywork_jupyter.engine.parallelism import DEFAULT_MAX_PARALLEL
from bodywork_jupyter.engine.started_by import os_user
from bodywork_jupyter.engine.store import Event, StageState
from bodywork_jupyter.engine.store import Run as RunRecord
from bodywork_jupyter.reader import DeploymentView, RunReader, examples_of
from bodywork_jupyter.targets import RunOptions, Target, TargetOptions, open_target


class Run:
    """A deployment run, read from its target on every access."""

    def __init__(self, target: Target, options: TargetOptions, run_id: str) -> None:
        self._target = target
        self._reader = RunReader(target)
        self.options = options
        record = self._reader.run(run_id)
        self.id = record.id
        self.deployment = record.deployment
        self.warnings: list[str] = []  # e.g. uncommitted changes that were not deployed

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.deployment} {self.status}>"

    def reopen(self) -> Run:
        """The same run through a new connection (for another thread)."""
        return Run(open_target(self.options), self.options, self.id)

    def close(self) -> None:
        self._target.close()

    @property
    def reader(self) -> RunReader:
        return self._reader

    @property
    def record(self) -> RunRecord:
        """The stored run: its plan (stages and their dependencies), times and message."""
        return self._reader.run(self.id)

    @property
    def status(self) -> str:
        self._target.refresh()
        return self.record.status

    @property
    def message(self) -> str:
        return self.record.message

    @property
    def started_by(self) -> str | None:
        """Who started the run: the OS user of a deploy from here (the CLI, the magics, this
        API), the Jupyter user of one from JupyterLab, ``schedule NAME`` for a schedule's
        fire; None when it was not recorded (runs from before it was)."""
        return self.record.started_by

    @property
    def examples(self) -> dict[str, JsonValue]:
        """Each service's example request body, by stage, as it was deployed (its
        ``service.example``, else the literal its notebook passes to ``predict``)."""
        return examples_of(self.record)

    @property
    def state_dir(self) -> Path | None:
        """The local state folder this run lives in (None for other targets)."""
        folder = getattr(self._target, "state_dir", None)
        return folder if isinstance(folder, Path) else None

    @property
    def settled(self) -> bool:
        """Finished, or deployed with every service ready."""
        self._target.refresh()
        return RunReader.settled(self.record)

    @property
    def stages(self) -> list[StageState]:
        return self._reader.stages(self.id)

    @property
    def urls(self) -> dict[str, str]:
        return self._reader.urls(self.id)

    @property
    def serving_instead(self) -> DeploymentView | None:
        """The deployment, when this run ended without deploying (failed, cancelled) and
        an earlier version keeps serving: its ``serving_run``, ``serving_commit``, ``urls``."""
        self._target.refresh()
        return self._reader.serving_instead(self.record)

    def events(self, after: int = 0) -> list[Event]:
        return self._reader.events(self.id, after)

    def wait(self, timeout: float | None = None, poll: float = 0.2) -> Run:
        """Block until the run settles; raises TimeoutError after ``timeout`` seconds."""
        self._reader.wait(self.id, timeout, poll)
        return self

    def logs(self, stage: str | None = None) -> str:
        """The log text of one stage, or of every stage (each line prefixed by its name)."""
        if stage is not None:
            self._reader.stage(self.id, stage)  # a clear error for a stage that is not there
        return self._reader.log_text(self.id, stage)

    def cancel(self) -> None:
        self._target.cancel(self.id)


def target_options(
    target: str | TargetOptions = "local",
    state_dir: str | Path | None = None,
    **settings: Any,
) -> TargetOptions:
    """One ``TargetOptions`` from the Python API's keyword arguments."""
    if isinstance(target, TargetOptions):
        return target
    given = {k: v for k, v in settings.items() if v is not None}
    return TargetOptions(name=target, state_dir=Path(state_dir) if state_dir else None, **given)


def deploy(
    path: str | Path = ".",
    *,
    branch: str | None = None,
    commit: str | None = None,
    target: str | TargetOptions = "local",
    params: Mapping[str, Any] | Sequence[str] | None = None,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
    state_dir: str | Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
    image: str | None = None,
    wait: bool = False,
) -> Run:
    """Deploy the pipeline in ``path`` (a folder or git URL); returns at once unless ``wait``.

    ``params`` maps ``"stage.name"`` to a value (or is a list of ``STAGE.NAME=VALUE``).
    """
    if isinstance(params, Mapping):
        items = [f"{key}={json.dumps(value)}" for key, value in params.items()]
    else:
        items = list(params or [])
    options = target_options(target, state_dir, context=context, namespace=namespace, image=image)
    opened = open_target(options)
    prepared = deploying.prepare(
        str(path), branch, commit, items, target=opened, image=options.image
    )
    record = deploying.submit(
        opened, prepared, RunOptions(max_parallel=max_parallel), started_by=os_user()
    )
    run = Run(opened, options, record.id)
    run.warnings = list(prepared.warnings)
    return run.wait() if wait else run


def get_run(
    ref: str, state_dir: str | Path | None = None, target: str | TargetOptions = "local"
) -> Run:
    """A run by id, id prefix, or deployment name (its newest run)."""
    options = target_options(target, state_dir)
    opened = open_target(options)
    opened.refresh()
    return Run(opened, options, RunReader(opened).find_run(ref).id)


def deployments(
    state_dir: str | Path | None = None, target: str | TargetOptions = "local"
) -> list[DeploymentView]:
    opened = open_target(target_options(target, state_dir))
    opened.refresh()
    return RunReader(opened).deployments()


def deployment(
    name: str, state_dir: str | Path | None = None, target: str | TargetOptions = "local"
) -> DeploymentView:
    """One deployment: ``run`` (its newest run) and, apart from it, what serves now:
    ``serving_run``, ``serving_commit``, ``urls``."""
    opened = open_target(target_options(target, state_dir))
    opened.refresh()
    return RunReader(opened).deployment(name)


def delete(
    name: str, state_dir: str | Path | None = None, target: str | TargetOptions = "local"
) -> DeploymentView:
    """Stop a deployment's services and free their ports (its history is kept)."""
    opened = open_target(target_options(target, state_dir))
    opened.delete(name)
    return RunReader(opened).deployment(name)
