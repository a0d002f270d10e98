"""``bodywork get deployment NAME [SERVICE]``: one deployment, or one of its services, in
detail (Bodywork 3's spelling; its table of a service's fields is the model).

Pure: the read service's answers in, lines out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bodywork_jupyter.engine.store import Run, StageState
from bodywork_jupyter.errors import NotFoundError
from bodywork_jupyter.reader import SHORT_COMMIT, DeploymentView, ingress_note, version_text
from bodywork_jupyter.sources import safe_url

#: The width of the BY column (who started a run) in the tables of runs.
BY_WIDTH = 16


def by_cell(started_by: str | None) -> str:
    """Who started a run, in a table's BY cell: cut to fit, ``-`` when not recorded."""
    text = started_by or "-"
    if len(text) > BY_WIDTH:
        text = text[: BY_WIDTH - 3] + "..."
    return f"{text:<{BY_WIDTH}}"


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def source_of(run: Run | None) -> str:
    """Where a run's code came from, as people read it (credentials left out)."""
    source: Mapping[str, Any] = run.source if run is not None else {}
    if source.get("local_path"):
        return f"folder {source['local_path']} (not a git repository)"
    if not source.get("repo"):
        return "-"
    shown = f"{safe_url(str(source['repo']))} at {str(source.get('commit') or '')[:SHORT_COMMIT]}"
    folder = source.get("project_dir") or "."
    return shown if folder == "." else f"{shown}, folder {folder}"


def deployment_lines(
    view: DeploymentView,
    stages: Sequence[StageState],
    recent: Sequence[Run],
    services: Mapping[str, Mapping[str, Any]],
    where: str,
) -> list[str]:
    """``view`` in detail: ``stages`` of its newest run, the ``recent`` runs (newest first)
    and the serving run's ``services`` (stage -> its plan's ``service``)."""
    newest, serving = view.run, view.serving_run
    lines = [
        f"deployment   {view.name}",
        f"status       {view.status}",
        f"target       {where}",
        f"source       {source_of(serving or newest)}",
    ]
    if serving is not None and newest is not None and serving.id != newest.id:
        lines.append(
            f"serving      {version_text(serving)} - the newest, {version_text(newest)}, is "
            + (f"{newest.status}: {newest.message}" if newest.message else newest.status)
        )
    elif serving is not None:
        lines.append(f"serving      {version_text(serving)}")
    lines.append(f"updated      {when(view.record.updated)}")
    if newest is not None:
        lines += ["", f"stages of run {newest.id} ({newest.status}):", *_stage_table(stages)]
    if services:
        lines += ["", "services:"]
        for name, service in services.items():
            lines.append(f"  {name:<16} {_address(view, name)}  ({_shape(service)})")
            exit_ = view.exits.get(name)
            if exit_ is not None:
                lines.append(f"    {exit_.message}")
                lines += [f"    | {line}" for line in exit_.log_tail]
    if recent:
        lines += [
            "",
            "last runs:",
            f"  {'RUN':<24} {'STATUS':<10} {'STARTED':<20} {'BY':<{BY_WIDTH}} MESSAGE",
        ]
        lines += [
            f"  {r.id:<24} {r.status:<10} {when(r.created):<20} {by_cell(r.started_by)} "
            f"{r.message}".rstrip()
            for r in recent
        ]
    return lines


def service_lines(
    view: DeploymentView,
    name: str,
    stages: Sequence[StageState],
    services: Mapping[str, Mapping[str, Any]],
    files: Mapping[str, str],
    where: str,
) -> list[str]:
    """One service of ``view`` (by stage name, or by its Kubernetes name) as a table of
    fields: ``stages`` and ``services`` of the run it belongs to, ``files`` stage -> file."""
    found = _service_named(name, services)
    if found is None:
        known = ", ".join(services) or "none"
        raise NotFoundError(f"deployment '{view.name}' has no service '{name}' (services: {known})")
    service = services[found]
    row = next((s for s in stages if s.stage == found), None)
    run = view.serving_run or view.run
    fields = {
        "service": found,
        "deployment": view.name,
        "target": where,
        "status": row.status if row is not None else "-",
        "url": view.urls.get(found, "- (not serving)"),
        "ingress": (
            ingress_note(view.ingresses[found]).removeprefix("ingress: ")
            if found in view.ingresses
            else "yes"
            if service.get("ingress")
            else "no"
        ),
        "port": str(service.get("port", "-")),
        "replicas": str(service.get("replicas", 1)),
        "file": files.get(found, "-"),
        "run": run.id if run is not None else "-",
        "source": source_of(run),
        "started": when(row.started if row is not None else None),
        "started_by": (run.started_by if run is not None else None) or "-",
        "example": _example_text(service.get("example")),
    }
    exit_ = view.exits.get(found)
    if exit_ is not None:
        fields["restarting"] = exit_.message
    width = max(len(k) for k in fields) + 2
    lines = [f"{key:<{width}} {value}" for key, value in fields.items()]
    if exit_ is not None:
        lines += [f"  | {line}" for line in exit_.log_tail]
    return lines


def _example_text(example: Any) -> str:
    """A service's example request body on one line (cut), as ``bodywork call --data``
    takes it; ``-`` when it has none."""
    if example is None:
        return "-"
    text = json.dumps(example, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _service_named(name: str, services: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The stage ``name`` means: itself, or the stage whose Kubernetes name it is
    (Bodywork named services so: lower case, ``-`` for ``_``)."""
    if name in services:
        return name
    wanted = name.lower().replace("_", "-")
    return next((s for s in services if s.lower().replace("_", "-") == wanted), None)


def _stage_table(stages: Sequence[StageState]) -> list[str]:
    now = time.time()
    rows = [f"  {'STAGE':<16} {'KIND':<8} {'STATUS':<11} {'ATTEMPT':<8} {'ELAPSED':<9} DETAILS"]
    for stage in stages:
        elapsed = f"{(stage.finished or now) - stage.started:.1f}s" if stage.started else "-"
        details = stage.url or stage.message
        rows.append(
            f"  {stage.stage:<16} {stage.kind:<8} {stage.status:<11} {stage.attempt or '-'!s:<8} "
            f"{elapsed:<9} {details}".rstrip()
        )
    return rows


def _address(view: DeploymentView, name: str) -> str:
    url = view.urls.get(name, "- (not serving)")
    return f"{url} ({ingress_note(view.ingresses[name])})" if name in view.ingresses else url


def _shape(service: Mapping[str, Any]) -> str:
    replicas = int(service.get("replicas", 1))
    copies = "1 replica" if replicas == 1 else f"{replicas} replicas"
    return f"port {service.get('port', '-')}, {copies}"
