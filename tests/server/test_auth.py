"""Jupyter's auth guards every endpoint: no token, no access (403 for API requests)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bodywork_jupyter.server.routes import ROUTES

ENDPOINTS = [
    ("GET", "stages"),
    ("GET", "stages/a.ipynb"),
    ("PUT", "stages/a.ipynb"),
    ("DELETE", "stages/a.ipynb"),
    ("GET", "pipeline/validate"),
    ("POST", "pipeline/generate"),
    ("GET", "pipeline/dag"),
    ("POST", "pipeline/export"),
    ("GET", "deployments"),
    ("POST", "deployments"),
    ("GET", "deployments/demo"),
    ("DELETE", "deployments/demo"),
    ("POST", "deployments/demo/call"),
    ("GET", "runs"),
    ("GET", "runs/r1"),
    ("POST", "runs/r1/cancel"),
    ("POST", "runs/r1/rerun"),
    ("GET", "runs/r1/logs/s"),
    ("GET", "runs/r1/events"),
    ("GET", "runs/r1/notebooks/s"),
    ("GET", "git"),
    ("GET", "targets"),
]


def test_every_route_is_in_this_list() -> None:
    for pattern, handler in ROUTES:
        covered = [
            method for method, path in ENDPOINTS if re.fullmatch(pattern, "/bodywork/api/" + path)
        ]
        defined = {m for m in ("GET", "POST", "PUT", "DELETE") if m.lower() in vars(handler)}
        assert set(covered) == defined, pattern


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_without_token_is_403(raw: Any, method: str, path: str) -> None:
    body = b"{}" if method in ("POST", "PUT") else None
    reply = await raw(path, method=method, auth=False, body=body)
    assert reply.status == 403, reply
    assert reply.json()["error"]


async def test_wrong_token_is_403(raw: Any) -> None:
    reply = await raw("runs", auth=False, headers={"Authorization": "token nope"})
    assert reply.status == 403


async def test_with_token_is_200(raw: Any) -> None:
    reply = await raw("runs")
    assert reply.status == 200, reply
    assert reply.json() == {"runs": []}
