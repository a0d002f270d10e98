"""The base of every bodywork API handler: Jupyter's auth, JSON in and out, one error table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from pydantic import BaseModel

from bodywork_jupyter.engine.started_by import cut
from bodywork_jupyter.reader import RunReader
from bodywork_jupyter.server import limits, paths
from bodywork_jupyter.server.errors import ApiError, translate
from bodywork_jupyter.server.where import Where, where_from_query
from bodywork_jupyter.targets import Target

if TYPE_CHECKING:
    from bodywork_jupyter.server.extension import BodyworkExtension

Body = TypeVar("Body", bound=BaseModel)

#: The prefix of every endpoint (after the server's base URL).
API = "bodywork/api"


class BodyworkHandler(ExtensionHandlerMixin, APIHandler):
    """Handlers authenticate with ``@web.authenticated`` and ``@authorized`` on each method."""

    auth_resource = "bodywork"

    #: The names a URL may hold; ``path`` (a file under the root) is bounded by ``paths``.
    _URL_NAMES = {"name": "the deployment name", "run_id": "the run id", "stage": "the stage"}
    _QUERY_NAMES = {
        "deployment": "?deployment=",
        "target": "?target=",
        "context": "?context=",
        "namespace": "?namespace=",
    }

    async def prepare(self) -> None:  # type: ignore[override]
        """Jupyter's auth first (a caller without a token gets its 403), then the bounds
        on every name and query a request holds: a 400 before anything reads them."""
        await super().prepare()
        if self._finished or self.current_user is None:
            return
        for key, value in self.path_kwargs.items():
            if key in self._URL_NAMES:
                limits.check_name(self._URL_NAMES[key], value)
        for key, values in self.request.query_arguments.items():
            for raw in values:
                value = raw.decode("utf-8", errors="replace")
                limits.check_query(key, value)
                if key in self._QUERY_NAMES:
                    limits.check_name(self._QUERY_NAMES[key], value)
        self._where = where_from_query(
            self.target_name,
            self.get_query_argument("context", None),
            self.get_query_argument("namespace", None),
        )

    @property
    def bodywork(self) -> BodyworkExtension:
        from bodywork_jupyter.server.extension import BodyworkExtension

        app = self.extensionapp
        assert isinstance(app, BodyworkExtension)
        return app

    @property
    def target_name(self) -> str:
        """``?target=`` (default: local)."""
        return self.get_query_argument("target", "local") or "local"

    @property
    def where(self) -> Where:
        """``?target=``, ``?context=`` and ``?namespace=``: the target this request reads,
        as the CLI's ``--target``, ``--context`` and ``--namespace`` name it."""
        return self._where

    @property
    def target(self) -> Target:
        """The target this request reads (one connection per thread: this is the loop's)."""
        self.bodywork.refresh(self.where)
        return self.bodywork.target(self.where)

    @property
    def runs(self) -> RunReader:
        """The one read service, over this request's target."""
        return RunReader(self.target)

    @property
    def started_by(self) -> str | None:
        """Who this request comes from, as a run records it: the Jupyter server's identity,
        its name (on JupyterHub the hub user's name; with a shared token "Anonymous ...", as
        JupyterLab shows it), else its username. Never the token the request came with."""
        user = self.current_user
        if isinstance(user, str):  # an older identity provider's plain user name
            return cut(user)
        for attribute in ("name", "username", "display_name"):
            value = getattr(user, attribute, None)
            if isinstance(value, str) and value.strip():
                return cut(value)
        return None

    @property
    def root(self) -> Path:
        return Path(self.serverapp.root_dir).resolve()

    def inside_root(self, relative: str, must_exist: bool = True) -> Path:
        """``relative`` (from a URL or a body) as a real path inside the root, or 403/404."""
        return paths.inside_root(self.root, relative, must_exist)

    def api_url(self, *parts: str) -> str:
        return url_path_join(self.base_url, API, *parts)

    def parse(self, model: type[Body]) -> Body:
        """The JSON request body as ``model``; a 400 with every problem when it does not fit
        (or when it is too large or too deep to parse: ``limits``)."""
        return model.model_validate(limits.json_body(self.request.body or b"{}"))

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    # -- errors: the one place an exception becomes a response --------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        reply = translate(exc_info[1] if exc_info else None, status_code)
        self.set_status(reply.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply.body()))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        reply = translate(value, 500)
        if reply.expected:
            self.log.info("bodywork API %s %s: %s", reply.status, self.request.path, reply.error)
        else:
            super().log_exception(typ, value, tb)

    # -- small shared readers -------------------------------------------------------------------

    def int_argument(
        self, name: str, default: int, minimum: int = 0, maximum: int = 1 << 62
    ) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(f"?{name}={raw}: not a whole number") from None
        if not minimum <= value <= maximum:
            raise ApiError(f"?{name}={raw}: must be between {minimum} and {maximum}")
        return value
