"""``deployments``: deploy a project (a folder under the root or a git URL), list, delete.

Deploying hands a Plan to the body's target (locally: a detached supervisor); nothing
runs in the Jupyter server's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter import deploying
from bodywork_jupyter.reader import RunReader
from bodywork_jupyter.server import paths, views
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.bodies import CallBody, DeployBody
from bodywork_jupyter.sources import is_git_url
from bodywork_jupyter.targets import RunOptions, open_target


class DeploymentsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        include_deleted = self.get_query_argument("all", "false").lower() in ("1", "true")
        views_ = self.runs.deployments(include_deleted)
        self.reply({"deployments": [views.deployment(v) for v in views_]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.parse(DeployBody)
        target = self._source(body.path)
        run = await asyncio.to_thread(self._deploy, target, body, self.started_by)
        self.set_header("Location", self.api_url("runs", run["id"]))
        self.reply(run, status=201)

    def _source(self, path: str) -> str:
        """A git URL as given (a file:// one must stay inside the root, as git reads it),
        else a real folder."""
        if is_git_url(path):
            if path.startswith(paths.FILE_URL):
                paths.file_url_inside_root(self.root, path)
            return path
        return str(self.inside_root(path))

    def _deploy(self, source: str, body: DeployBody, started_by: str | None) -> dict[str, Any]:
        """Runs in a worker thread: resolving the source and loading bodywork.yaml block.
        ``started_by``: the request's user, read before (in the server's thread)."""
        options = self.bodywork.options(
            body.target, context=body.context, namespace=body.namespace, image=body.image
        )
        target = open_target(options)
        try:
            prepared = deploying.prepare(
                source,
                body.branch,
                body.commit,
                body.param_items(),
                target=target,
                image=body.image,
                image_pull_secrets=body.image_pull_secrets,
            )
            record = deploying.submit(
                target,
                prepared,
                RunOptions(max_parallel=body.max_parallel),
                started_by=started_by,
            )
            detail = views.run_detail(record, RunReader(target), self.api_url)
        finally:
            target.close()
        return {**detail, "warnings": prepared.warnings}


class DeploymentHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        runs = self.runs
        view = runs.deployment(name)
        history = [views.run_summary(r) for r in runs.runs(name, limit=20)]
        self.reply({**views.deployment(view), "runs": history})

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self.runs.deployment(name)  # 404 before any work
        where = self.where

        def delete() -> dict[str, Any]:
            target = self.bodywork.target(where)  # this worker thread's own
            target.delete(name)
            return views.deployment(RunReader(target).deployment(name))

        self.reply(await asyncio.to_thread(delete))


#: An answer longer than this is cut (the panel shows it; it is no download).
MAX_ANSWER_BYTES = 1 << 20


class CallHandler(BodyworkHandler):
    """A request to one of the deployment's services, sent from the Jupyter server: the
    browser may be elsewhere (a binder), and a cluster's service is reached through its
    API server, as ``bodywork call`` does."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.parse(CallBody)
        where = self.where
        payload = None if body.body is None else json.dumps(body.body).encode()

        def call() -> dict[str, Any]:
            target = self.bodywork.target(where)  # this worker thread's own
            stage, url = RunReader(target).service_url(name, body.stage)
            status, answer = target.call_service(url, body.path, payload, body.timeout)
            cut = len(answer) > MAX_ANSWER_BYTES
            text = answer[:MAX_ANSWER_BYTES].decode("utf-8", errors="replace")
            reply: dict[str, Any] = {"stage": stage, "url": url, "status": status, "text": text}
            if cut:
                reply["truncated"] = True
            else:
                with contextlib.suppress(ValueError):  # not JSON: the text says it
                    reply["json"] = json.loads(text)
            return reply

        self.reply(await asyncio.to_thread(call))
