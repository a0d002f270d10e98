"""Store records and pipeline results as JSON-ready dicts (the shapes in openapi.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Event, Run, StageState
from bodywork_jupyter.pipeline.model import Pipeline
from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.reader import DeploymentView, RunReader, examples_of
from bodywork_jupyter.sources import safe_url

#: ``url(*parts)`` -> an absolute URL path under the API (the server's base URL included).
UrlFor = Callable[..., str]


def source(data: dict[str, Any]) -> dict[str, Any]:
    """A run's code source, with credentials stripped from any URL."""
    out = dict(data)
    if isinstance(out.get("repo"), str):
        out["repo"] = safe_url(out["repo"])
    return out


def deployment(view: DeploymentView) -> dict[str, Any]:
    record = view.record
    return {
        "name": record.name,
        "pipeline": record.pipeline,
        "target": record.target,
        "status": view.status,
        "source": source(record.source),
        "created": record.created,
        "updated": record.updated,
        "current_run": view.run.id if view.run else None,
        "run": run_summary(view.run) if view.run is not None else None,
        "serving_run": view.serving_run.id if view.serving_run else None,
        "serving": serving(view),
        "urls": view.urls,
    }


def serving(view: DeploymentView) -> dict[str, Any] | None:
    """The version that answers now (its run may not be the newest): run, commit, URLs."""
    if view.serving_run is None:
        return None
    return {
        "run": view.serving_run.id,
        "commit": view.serving_commit,
        "urls": view.urls,
        "ingresses": view.ingresses,
    }


def run_summary(record: Run) -> dict[str, Any]:
    return {
        "id": record.id,
        "deployment": record.deployment,
        "status": record.status,
        "message": record.message,
        "created": record.created,
        "started": record.started,
        "finished": record.finished,
        "source": source(record.source),
        "cancel_requested": bool(record.cancel_requested),
        "started_by": record.started_by,
    }


def run_detail(record: Run, runs: RunReader, url: UrlFor) -> dict[str, Any]:
    stages = runs.stages(record.id)
    examples = examples_of(record)  # the record is read with its plan
    return {
        **run_summary(record),
        "options": record.options,
        "settled": states.settled(record.status),
        "finished_ok": record.status in (states.SUCCEEDED, states.DEPLOYED),
        "stages": [stage(record.id, s, url, examples.get(s.stage)) for s in stages],
        "urls": runs.urls(record.id),
        "links": {
            "self": url("runs", record.id),
            "events": url("runs", record.id, "events"),
            "cancel": url("runs", record.id, "cancel"),
        },
    }


def stage(run_id: str, state: StageState, url: UrlFor, example: JsonValue = None) -> dict[str, Any]:
    """A stage's row; ``example``: a service's example request body (None: none known)."""
    duration = (
        state.finished - state.started if state.started is not None and state.finished else None
    )
    return {
        "name": state.stage,
        "kind": state.kind,
        "status": state.status,
        "attempt": state.attempt,
        "started": state.started,
        "finished": state.finished,
        "duration": duration,
        "message": state.message,
        "url": state.url,
        "log": url("runs", run_id, "logs", state.stage) if state.attempt else None,
        "notebook": url("runs", run_id, "notebooks", state.stage) if state.notebook_path else None,
        "example": example if state.kind == "service" else None,
    }


def event(record: Event) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "run_id": record.run_id,
        "time": record.time,
        "type": record.type,
        "stage": record.stage,
        "attempt": record.attempt,
        "data": record.data,
    }


def problem(item: Problem, root: Path, base: Path | None = None) -> dict[str, Any]:
    """A Problem with its file relative to the server's root (as the UI opens it).

    ``base``: the folder a relative ``file`` is relative to (default: the working folder).
    """
    data = item.to_dict()
    file = str(base / item.file) if base is not None and item.file else item.file
    data["file"] = root_relative(file, root)
    return data


def root_relative(file: str, root: Path) -> str:
    path = Path(file)
    try:
        return (path if path.is_absolute() else path.resolve()).relative_to(root).as_posix()
    except ValueError:
        return file


def dag(pipeline: Pipeline, root: Path) -> dict[str, Any]:
    project = Path(pipeline.root)
    return {
        "pipeline": pipeline.name,
        "config_file": root_relative(pipeline.config_file, root),
        "nodes": [
            {
                "name": s.name,
                "kind": s.kind,
                "path": root_relative(str(project / s.path), root),
                "run_on_failure": s.name == pipeline.run_on_failure,
            }
            for s in pipeline.stages.values()
        ],
        "edges": [
            {"from": dep, "to": s.name} for s in pipeline.dag_stages() for dep in s.depends_on
        ],
        "run_on_failure": pipeline.run_on_failure,
    }
