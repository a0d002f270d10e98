"""The REST API tier: a real Jupyter server (pytest-jupyter) with the extension enabled.

pytest-jupyter's fixtures come in by a star import: ``pytest_plugins`` is only
allowed in the top-level conftest, and this tier should not load Jupyter for the others.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPResponse
from traitlets.config import Config

from tests.engine.helpers import delete_all


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def jp_server_config(state_dir: Path) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"bodywork_jupyter": True}},
            "BodyworkExtension": {"state_dir": str(state_dir)},
        }
    )


@pytest.fixture(autouse=True)
def _delete_deployments(state_dir: Path) -> Iterator[None]:
    yield
    delete_all(state_dir)


class Reply:
    def __init__(self, response: HTTPResponse) -> None:
        self.status = response.code
        self.headers = response.headers
        self.body = response.body or b""

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:300]!r}>"


Api = Callable[..., Awaitable[Reply]]


@pytest.fixture
def api(jp_fetch: Any) -> Api:
    """``await api("GET", "runs", params=..., body=...)`` -> Reply (errors too, never raises)."""

    async def call(method: str, *parts: str, body: Any = None, **kwargs: Any) -> Reply:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if body is None and method in ("POST", "PUT"):
            body = "{}"
        response = await jp_fetch(
            "bodywork", "api", *parts, method=method, body=body, raise_error=False, **kwargs
        )
        return Reply(response)

    return call


@pytest.fixture
def raw(http_server_client: Any, jp_base_url: str, jp_auth_header: dict[str, str]) -> Any:
    """A request to an exact URL path (no escaping), with the token unless ``auth=False``."""

    async def call(path: str, method: str = "GET", auth: bool = True, **kwargs: Any) -> Reply:
        headers = dict(jp_auth_header) if auth else {}
        headers.update(kwargs.pop("headers", {}))
        response = await http_server_client.fetch(
            jp_base_url.rstrip("/") + "/bodywork/api/" + path,
            method=method,
            headers=headers,
            raise_error=False,
            allow_nonstandard_methods=True,
            **kwargs,
        )
        return Reply(response)

    return call
