"""``stages``: notebooks and modules under the root, their tags and parameters."""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter.server import tagging
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.bodies import TagBody
from bodywork_jupyter.server.paths import relative_to_root


class StagesHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        tagged = self.get_query_argument("tagged", "false").lower() in ("1", "true", "yes")
        folder = self.inside_root(self.get_query_argument("path", "."))
        files = await asyncio.to_thread(tagging.list_stage_files, folder, tagged)
        prefix = relative_to_root(self.root, folder)
        if prefix != ".":
            for entry in files:
                entry["path"] = f"{prefix}/{entry['path']}"
        self.reply({"stages": files})


class StageHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        target = self.inside_root(path)
        self.reply(await asyncio.to_thread(tagging.describe, self.root, target))

    @web.authenticated
    @authorized
    async def put(self, path: str) -> None:
        target = self.inside_root(path)
        tag = self.parse(TagBody).root
        changed = await tagging.write_tag(
            self.contents_manager, relative_to_root(self.root, target), tag
        )
        self.reply({**tagging.describe(self.root, target), "changed": changed})

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        target = self.inside_root(path)
        changed = await tagging.write_tag(
            self.contents_manager, relative_to_root(self.root, target), None
        )
        self.reply({**tagging.describe(self.root, target), "changed": changed})
