"""Paths outside the server's root are refused (403), however they are spelt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.server import paths
from bodywork_jupyter.server.errors import ForbiddenError
from tests.server.conftest import Api
from tests.server.helpers import notebook

OUTSIDE_STAGE_PATHS = [
    "../secret.ipynb",
    "a/../../secret.ipynb",
    "%2e%2e/secret.ipynb",
    "%2e%2e%2fsecret.ipynb",
    "%252e%252e%252fsecret.ipynb",
    "%25252e%25252e%25252fsecret.ipynb",
    "..%5csecret.ipynb",
    "%2fetc%2fpasswd",
    "link/secret.ipynb",
    "linked.ipynb",
]


@pytest.fixture
def outside(jp_root_dir: Path) -> Path:
    """A notebook beside the root, and symlinks inside the root pointing at it."""
    secret = notebook(jp_root_dir.parent / "secret.ipynb", "print('secret')")
    (jp_root_dir / "link").symlink_to(jp_root_dir.parent)
    (jp_root_dir / "linked.ipynb").symlink_to(secret)
    return secret


@pytest.mark.parametrize("path", OUTSIDE_STAGE_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_stage_paths_outside_root_are_403(
    raw: Any, outside: Path, path: str, method: str
) -> None:
    before = outside.read_text()
    body = b'{"stage": "x"}' if method == "PUT" else None
    reply = await raw("stages/" + path, method=method, body=body)
    assert reply.status in (403, 404), reply  # 404: tornado normalised the URL away from us
    if reply.status == 404:
        assert "secret" not in reply.body.decode()
    assert outside.read_text() == before


@pytest.mark.parametrize(
    "query",
    [
        "path=..",
        "path=../",
        "path=%2e%2e",
        "path=%252e%252e",
        "path=/etc",
        "path=%2Fetc",
        "path=link",
    ],
)
@pytest.mark.parametrize("endpoint", ["stages", "pipeline/validate", "pipeline/dag", "git"])
async def test_folder_queries_outside_root_are_403(
    raw: Any, outside: Path, endpoint: str, query: str
) -> None:
    reply = await raw(f"{endpoint}?{query}")
    assert reply.status == 403, reply
    assert reply.json()["error"]


@pytest.mark.parametrize("folder", ["..", "/tmp", "link", "%2e%2e"])
async def test_bodies_outside_root_are_403(api: Api, outside: Path, folder: str) -> None:
    generate = await api("POST", "pipeline", "generate", body={"folder": folder})
    assert generate.status == 403, generate
    deploy = await api("POST", "deployments", body={"path": folder})
    assert deploy.status == 403, deploy


async def test_file_url_outside_root_is_403(api: Api, outside: Path) -> None:
    reply = await api("POST", "deployments", body={"path": outside.parent.as_uri()})
    assert reply.status == 403, reply


async def test_a_real_stage_path_is_fine(api: Api, jp_root_dir: Path) -> None:
    notebook(jp_root_dir / "sub dir" / "a b.ipynb", "1")
    reply = await api("GET", "stages", "sub dir/a b.ipynb")
    assert reply.status == 200, reply
    assert reply.json()["path"] == "sub dir/a b.ipynb"


@pytest.mark.parametrize(
    "text", ["a\x00b", "..", "/abs", "C:/x", "%2e%2e/x", "%25%32%65%25%32%65/x", "link/x"]
)
def test_inside_root_refuses(tmp_path: Path, text: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ForbiddenError):
        paths.inside_root(root, text, must_exist=False)
    assert paths.inside_root(root, "ok/x", must_exist=False) == root.resolve() / "ok" / "x"
