"""``?target=``, ``?context=``, ``?namespace=``: every read and action opens the target they
name (as the CLI's ``--target --context --namespace`` do), one per (target, context,
namespace), and refuses a context the kubeconfig does not have."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.backends.local.target import LocalTarget
from bodywork_jupyter.targets import Target, TargetOptions, registry
from tests.server.conftest import Api
from tests.server.test_auth import ENDPOINTS

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {username: nobody}}]
contexts:
  - {name: alpha, context: {cluster: c, user: u, namespace: ns-a}}
  - {name: beta, context: {cluster: c, user: u}}
current-context: alpha
"""

#: The endpoints that read or change deployments and runs: each takes the three.
WHERE_ENDPOINTS = [
    (method, path)
    for method, path in ENDPOINTS
    if path.startswith(("runs", "deployments")) and (method, path) != ("POST", "deployments")
]


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def opened() -> Iterator[list[TargetOptions]]:
    """A target "recording" (this machine's, underneath) that notes the options of each open."""
    seen: list[TargetOptions] = []

    def factory(options: TargetOptions) -> Target:
        seen.append(options)
        local = {"name": "local", "context": None, "namespace": None}
        return LocalTarget(options.model_copy(update=local))

    registry.register("recording", factory)
    yield seen
    registry.unregister("recording")


def _where(options: TargetOptions) -> tuple[str, str | None, str | None]:
    return (options.name, options.context, options.namespace)


def test_the_walk_covers_every_read_and_action() -> None:
    assert len(WHERE_ENDPOINTS) == 11


@pytest.mark.parametrize(("method", "path"), WHERE_ENDPOINTS)
async def test_every_endpoint_opens_the_target_the_query_names(
    raw: Any, opened: list[TargetOptions], method: str, path: str
) -> None:
    query = "target=recording&context=beta&namespace=ns-1"
    body = b"{}" if method == "POST" else None
    reply = await raw(f"{path}?{query}", method=method, body=body)
    assert reply.status in (200, 404), reply  # nothing deployed: a run or deployment is missing
    assert {_where(o) for o in opened} == {("recording", "beta", "ns-1")}


async def test_one_target_per_target_context_and_namespace(
    api: Api, opened: list[TargetOptions]
) -> None:
    for namespace in ("ns-1", "ns-2", "ns-1", "ns-2"):
        params = {"target": "recording", "context": "alpha", "namespace": namespace}
        assert (await api("GET", "runs", params=params)).status == 200
    assert (await api("GET", "runs", params={"target": "recording"})).status == 200
    assert [_where(o) for o in opened] == [
        ("recording", "alpha", "ns-1"),
        ("recording", "alpha", "ns-2"),
        ("recording", None, None),
    ]


async def test_an_unknown_context_is_400_naming_the_kubeconfigs_contexts(
    api: Api, opened: list[TargetOptions]
) -> None:
    for target in ("kubernetes", "recording"):
        reply = await api("GET", "runs", params={"target": target, "context": "gamma"})
        assert reply.status == 400, reply
        error = reply.json()["error"]
        assert "?context=gamma" in error and "alpha, beta" in error, error
    assert opened == []  # refused before any target was opened


async def test_without_a_kubeconfig_a_context_is_400(
    api: Api, kubeconfig: Path, opened: list[TargetOptions]
) -> None:
    kubeconfig.unlink()
    reply = await api("GET", "deployments", params={"target": "recording", "context": "alpha"})
    assert reply.status == 400, reply
    assert "no contexts" in reply.json()["error"]


@pytest.mark.parametrize("query", ["context", "namespace"])
async def test_context_or_namespace_on_this_machine_is_400(api: Api, query: str) -> None:
    reply = await api("GET", "runs", "r1", params={query: "x"})
    assert reply.status == 400, reply
    assert f"?{query}=" in reply.json()["error"] and "?target=kubernetes" in reply.json()["error"]


@pytest.mark.parametrize("query", ["context", "namespace"])
@pytest.mark.parametrize(("method", "path"), WHERE_ENDPOINTS)
async def test_long_names_are_400(raw: Any, method: str, path: str, query: str) -> None:
    body = b"{}" if method == "POST" else None
    reply = await raw(f"{path}?target=kubernetes&{query}=" + "n" * 300, method=method, body=body)
    assert reply.status == 400, reply
    assert f"?{query}=" in reply.json()["error"]
