"""``deployments``: deploy a project (a folder under the root or a git URL), list, delete.

Deploying records a run and hands it to a detached supervisor; nothing runs in the
Jupyter server's process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter import deploying
from bodywork_jupyter.backends.git_source import is_git_url
from bodywork_jupyter.server import views
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.bodies import DeployBody
from bodywork_jupyter.server.errors import ForbiddenError, NotFoundError


class DeploymentsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.bodywork.refresh()
        store = self.store
        include_deleted = self.get_query_argument("all", "false").lower() in ("1", "true")
        items = []
        for record in store.deployments(include_deleted):
            current = store.get_run(record.current_run, False) if record.current_run else None
            items.append(views.deployment(record, current))
        self.reply({"deployments": items})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.parse(DeployBody)
        target = self._source(body.path)
        run = await asyncio.to_thread(self._deploy, target, body)
        self.set_header("Location", self.api_url("runs", run["id"]))
        self.reply(run, status=201)

    def _source(self, path: str) -> str:
        """A git URL as given (a file:// one must stay inside the root), else a real folder."""
        if is_git_url(path):
            parsed = urlparse(path)
            if parsed.scheme == "file":
                resolved = Path(unquote(parsed.path)).resolve()
                if resolved != self.root and self.root not in resolved.parents:
                    raise ForbiddenError(f"{path}: a file:// URL must point inside the root")
            return path
        return str(self.inside_root(path))

    def _deploy(self, target: str, body: DeployBody) -> dict[str, Any]:
        """Runs in a worker thread: resolving the source and loading bodywork.yaml block."""
        store = self.bodywork.store()
        prepared = deploying.prepare(target, body.branch, body.commit, body.param_items())
        record = deploying.submit(store, prepared, body.target, body.max_parallel)
        detail = views.run_detail(record, store.stages(record.id), self.api_url)
        return {**detail, "warnings": prepared.warnings}


class DeploymentHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.bodywork.refresh()
        store = self.store
        record = store.get_deployment(name)
        if record is None:
            raise NotFoundError(f"no deployment '{name}' - list them with GET deployments")
        current = store.get_run(record.current_run, False) if record.current_run else None
        runs = [views.run_summary(r) for r in store.runs(name, limit=20, with_plan=False)]
        self.reply({**views.deployment(record, current), "runs": runs})

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        record = self.store.get_deployment(name)
        if record is None or record.status == "deleted":
            raise NotFoundError(f"no deployment '{name}' - list them with GET deployments")
        deleted = await asyncio.to_thread(
            lambda: deploying.delete_deployment(self.bodywork.store(), name)
        )
        self.reply(views.deployment(deleted))
