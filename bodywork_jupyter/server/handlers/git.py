"""``git``: the repository around a folder (remote URL without credentials)."""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter.server import gitinfo
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.paths import relative_to_root


class GitHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        folder = self.inside_root(self.get_query_argument("path", "."))
        info = await asyncio.to_thread(gitinfo.describe, folder)
        self.reply({"path": relative_to_root(self.root, folder), **info})
