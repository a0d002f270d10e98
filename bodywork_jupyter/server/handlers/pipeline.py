"""``pipeline``: validate bodywork.yaml, generate it from tags, and its DAG for drawing."""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter.pipeline import generate, load
from bodywork_jupyter.server import views
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.bodies import GenerateBody
from bodywork_jupyter.server.errors import ApiError


class ValidateHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        folder = self.inside_root(self.get_query_argument("path", "."))
        result = await asyncio.to_thread(load.check, folder)
        pipeline = result.pipeline
        self.reply(
            {
                "valid": not result.errors,
                "config_file": views.root_relative(str(result.config_file), self.root),
                # the panel's "no bodywork.yaml here" without listing the folder first
                "found": result.config_file.is_file(),
                "pipeline": pipeline.name if pipeline else None,
                "version": pipeline.source_version if pipeline else None,
                "errors": len(result.errors),
                "warnings": len(result.warnings),
                "problems": [views.problem(p, self.root) for p in result.problems],
            }
        )


class GenerateHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.parse(GenerateBody)
        folder = self.inside_root(body.folder)
        result = await asyncio.to_thread(generate.generate, folder)
        if result.problems:
            problems = [views.problem(p, self.root, folder) for p in result.problems]
            raise ApiError("fix the stage tags, then generate again", problems)
        written = result.changed and not body.check
        if written:
            await asyncio.to_thread(generate.write, result)
        verdict = load.check_text(result.new_text, result.config_file)
        self.reply(
            {
                "config_file": views.root_relative(str(result.config_file), self.root),
                "changed": result.changed,
                "written": written,
                "diff": result.diff(),
                "notices": result.notices,
                "problems": [views.problem(p, self.root) for p in verdict.problems],
            }
        )


class DagHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        folder = self.inside_root(self.get_query_argument("path", "."))
        pipeline = await asyncio.to_thread(load.load_pipeline, folder)
        self.reply(views.dag(pipeline, self.root))
