"""The jupyter_server extension app: its config, and the handlers it adds to the server.

Enabled on install (``jupyter-config/server-config/bodywork_jupyter.json``). Runs are
never executed in the Jupyter server's process: deploying hands them to a detached
supervisor, and every read goes through the run store, so a Jupyter restart loses
nothing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Unicode

from bodywork_jupyter import deploying
from bodywork_jupyter._version import __version__
from bodywork_jupyter.engine.store import RunStore, default_state_dir
from bodywork_jupyter.server.cache import ResponseCache


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
        self.cache = ResponseCache()
        store = self.store()
        deploying.refresh(store)
        self.log.info("bodywork: REST API at /bodywork/api/, run store in %s", store.state_dir)

    def initialize_handlers(self) -> None:
        from bodywork_jupyter.server.routes import ROUTES

        self.handlers.extend(ROUTES)

    def resolved_state_dir(self) -> Path:
        return Path(self.state_dir).expanduser() if self.state_dir else default_state_dir()

    def store(self) -> RunStore:
        """The run store, one SQLite connection per thread (handlers offload work to threads)."""
        store: RunStore | None = getattr(self._local, "store", None)
        if store is None:
            store = RunStore(self.resolved_state_dir())
            self._local.store = store
        return store

    async def stop_extension(self) -> None:
        store: RunStore | None = getattr(getattr(self, "_local", None), "store", None)
        if store is not None:
            store.close()

    def refresh(self, every: float = 1.0) -> None:
        """Mark runs whose supervisor died as lost (at most once a second: reads stay cheap)."""
        now = time.monotonic()
        if now - getattr(self, "_refreshed", float("-inf")) >= every:
            self._refreshed = now
            deploying.refresh(self.store())
