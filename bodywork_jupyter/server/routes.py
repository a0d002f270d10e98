"""Every endpoint of the REST API: (URL pattern, handler). openapi.yaml documents each one.

Patterns are relative to the server's base URL; ``tests/server/test_openapi.py`` checks
that this table and the OpenAPI document agree (paths and methods).
"""

from __future__ import annotations

from typing import Any

from bodywork_jupyter.server.base import API
from bodywork_jupyter.server.handlers import (
    deployments,
    export,
    git,
    pipeline,
    runs,
    stages,
    targets,
)

_NAME = r"(?P<name>[^/]+)"
_RUN = r"(?P<run_id>[^/]+)"
_STAGE = r"(?P<stage>[^/]+)"

ROUTES: list[tuple[str, Any]] = [
    (rf"/{API}/stages", stages.StagesHandler),
    (rf"/{API}/stages/(?P<path>.+)", stages.StageHandler),
    (rf"/{API}/pipeline/validate", pipeline.ValidateHandler),
    (rf"/{API}/pipeline/generate", pipeline.GenerateHandler),
    (rf"/{API}/pipeline/dag", pipeline.DagHandler),
    (rf"/{API}/pipeline/export", export.ExportHandler),
    (rf"/{API}/deployments", deployments.DeploymentsHandler),
    (rf"/{API}/deployments/{_NAME}", deployments.DeploymentHandler),
    (rf"/{API}/deployments/{_NAME}/call", deployments.CallHandler),
    (rf"/{API}/runs", runs.RunsHandler),
    (rf"/{API}/runs/{_RUN}", runs.RunHandler),
    (rf"/{API}/runs/{_RUN}/cancel", runs.CancelHandler),
    (rf"/{API}/runs/{_RUN}/rerun", runs.RerunHandler),
    (rf"/{API}/runs/{_RUN}/logs/{_STAGE}", runs.LogsHandler),
    (rf"/{API}/runs/{_RUN}/events", runs.EventsHandler),
    (rf"/{API}/runs/{_RUN}/notebooks/{_STAGE}", runs.NotebookHandler),
    (rf"/{API}/git", git.GitHandler),
    (rf"/{API}/targets", targets.TargetsHandler),
]
