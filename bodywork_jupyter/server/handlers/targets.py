"""``targets``: where a deploy can go from here (a deploy dialog's choices)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from jupyter_server.auth.decorator import authorized
from tornado import web

from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.targets.registry import destinations


class TargetsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        found = await asyncio.to_thread(destinations)  # reads the kubeconfig file
        self.reply({"targets": [asdict(d) for d in found]})
