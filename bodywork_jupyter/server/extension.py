"""The jupyter_server extension app: its config, and the handlers it adds to the server.

Enabled on install (``jupyter-config/server-config/bodywork_jupyter.json``). Runs are
never executed in the Jupyter server's process: deploying hands them to a target (locally,
a detached supervisor), and every read goes through the target's records, so a Jupyter
restart loses nothing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

from bodywork_jupyter._version import __version__
from bodywork_jupyter.engine.store import default_state_dir
from bodywork_jupyter.server.cache import ResponseCache
from bodywork_jupyter.server.where import LOCAL, Where
from bodywork_jupyter.targets import Target, TargetOptions, open_target

#: Targets a thread keeps open (a cluster target holds a connection pool).
MAX_OPEN = 16


class BodyworkExtension(ExtensionApp):
    """The bodywork REST API (``/bodywork/api/``) inside a Jupyter server."""

    name = "bodywork_jupyter"
    description = "Deploy notebook pipelines: the bodywork REST API"
    version = __version__
    load_other_extensions = True

    state_dir = Unicode(
        "",
        config=True,
        help="Folder of the run store (runs, logs, executed notebooks). Empty: "
        "$BODYWORK_STATE_DIR, else ~/.local/share/bodywork-jupyter - the folder the "
        "`bodywork` CLI uses, so both see the same deployments.",
    )

    def initialize_settings(self) -> None:
        self._local = threading.local()
        self._refreshed: dict[Where, float] = {}
        self.cache = ResponseCache()
        self.refresh(LOCAL)
        self.log.info(
            "bodywork: REST API at /bodywork/api/, run history in %s", self.resolved_state_dir()
        )

    def initialize_handlers(self) -> None:
        from bodywork_jupyter.server.routes import ROUTES

        self.handlers.extend(ROUTES)

    def resolved_state_dir(self) -> Path:
        return Path(self.state_dir).expanduser() if self.state_dir else default_state_dir()

    def options(self, name: str = "local", **settings: str | None) -> TargetOptions:
        given = {k: v for k, v in settings.items() if v}
        return TargetOptions(name=name, state_dir=self.resolved_state_dir(), **given)

    def target(self, where: Where | str = LOCAL) -> Target:
        """The target ``where`` names (a name alone: with no context or namespace), opened
        once per thread (handlers offload work to threads); the least recently used is
        closed past ``MAX_OPEN`` of them."""
        key = Where(where) if isinstance(where, str) else where
        opened: OrderedDict[Where, Target] = self._local.__dict__.setdefault(
            "targets", OrderedDict()
        )
        found = opened.get(key)
        if found is None:
            options = self.options(key.target, context=key.context, namespace=key.namespace)
            found = opened[key] = open_target(options)
            while len(opened) > MAX_OPEN:
                opened.popitem(last=False)[1].close()
        opened.move_to_end(key)
        return found

    async def stop_extension(self) -> None:
        local = getattr(self, "_local", None)
        for target in getattr(local, "targets", {}).values():
            target.close()

    def refresh(self, where: Where | str = LOCAL, every: float = 1.0) -> None:
        """Let the target settle runs nobody drives (at most once a second: reads stay cheap)."""
        key = Where(where) if isinstance(where, str) else where
        now = time.monotonic()
        if now - self._refreshed.get(key, float("-inf")) >= every:
            self._refreshed[key] = now
            self.target(key).refresh()
