"""The bad-input corpus: every answer is a 4xx with a JSON message, never a 500.

Deep and huge bodies on every endpoint that reads one, paths no filesystem opens on
every endpoint that takes a path, over-long names on every endpoint that takes one (all
found by walking the OpenAPI document), and file:// URLs that git would read outside the
root however they are spelt (``#``, ``%23``, ``%2e%2e``, symlinks, a ``.git`` file, the
``.git`` suffix git tries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bodywork_jupyter.server import limits, paths
from bodywork_jupyter.server.errors import ForbiddenError, NotFoundError
from tests.projects import git_commit, notebook
from tests.server.conftest import Api, Reply
from tests.server.helpers import two_stage_project
from tests.server.openapi_check import document

HTTP_METHODS = ("get", "post", "put", "delete")
#: a real stage file, so that an endpoint under stages/{path} gets as far as the body
STAGE = "a.ipynb"

LONG_PATHS = {
    "a name over 255 bytes": "x" * 300 + ".ipynb",
    "a path over 1024 bytes": "a/" * 600 + STAGE,
    "multi-byte names": "é" * 200 + "/" + STAGE,
    "a long encoded name": "%78" * 300,
}


def assert_refused(reply: Reply, *statuses: int) -> dict[str, Any]:
    """A 4xx (one of ``statuses`` if given) whose JSON body says what is wrong."""
    assert 400 <= reply.status < 500, reply
    if statuses:
        assert reply.status in statuses, reply
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    body: dict[str, Any] = reply.json()
    assert isinstance(body["error"], str) and body["error"], body
    assert "Traceback" not in reply.body.decode(errors="replace")
    return body


def _parameters(template: str, method: str) -> list[dict[str, Any]]:
    doc = document()
    item = doc["paths"][template]
    out = []
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        if "$ref" in parameter:
            parameter = doc["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        out.append(parameter)
    return out


def _body_fields(template: str, method: str) -> set[str]:
    body = document()["paths"][template][method].get("requestBody")
    if body is None:
        return set()
    schema = body["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def operations() -> Iterator[tuple[str, str]]:
    """Every (template, method) of the document, the template without its prefix."""
    for template, item in document()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield template.removeprefix("/bodywork/api/"), method


def _url(template: str, values: dict[str, str]) -> str:
    """The template with each ``{name}`` filled in (``path`` may hold '/', the rest not)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return quote(values.get(name, "x"), safe="/" if name == "path" else "")

    return re.sub(r"{(\w+)}", fill, template)


# -- which endpoints take what (from the OpenAPI document) -------------------------------------

PATH_FIELDS = {"path", "folder"}


def path_takers() -> list[tuple[str, str, str]]:
    """(template, method, where): every place an endpoint takes a path under the root."""
    found = []
    for template, method in operations():
        full = "/bodywork/api/" + template
        for parameter in _parameters(full, method):
            if parameter["name"] == "path" and parameter["in"] in ("path", "query"):
                found.append((template, method, parameter["in"]))
        # a call's path is the service's URL path (checked as one), not a file's
        if _body_fields(full, method) & PATH_FIELDS and not template.endswith("/call"):
            found.append((template, method, "body"))
    return found


def name_takers() -> list[tuple[str, str, str]]:
    """(template, method, name): every name in a URL (a deployment, a run, a stage)."""
    return [
        (template, method, p["name"])
        for template, method in operations()
        for p in _parameters("/bodywork/api/" + template, method)
        if p["in"] == "path" and p["name"] != "path"
    ]


def body_readers() -> list[tuple[str, str]]:
    return [
        (t, m)
        for t, m in operations()
        if "requestBody" in document()["paths"]["/bodywork/api/" + t][m]
    ]


def test_the_document_lists_the_endpoints_these_tests_walk() -> None:
    assert set(path_takers()) == {
        ("stages", "get", "query"),
        ("stages/{path}", "get", "path"),
        ("stages/{path}", "put", "path"),
        ("stages/{path}", "delete", "path"),
        ("pipeline/validate", "get", "query"),
        ("pipeline/generate", "post", "body"),
        ("pipeline/dag", "get", "query"),
        ("pipeline/export", "post", "body"),
        ("deployments", "post", "body"),
        ("git", "get", "query"),
    }
    assert {name for _, _, name in name_takers()} == {"name", "run_id", "stage"}
    assert set(body_readers()) == {
        ("stages/{path}", "put"),
        ("pipeline/generate", "post"),
        ("pipeline/export", "post"),
        ("deployments", "post"),
        ("deployments/{name}/call", "post"),
    }


async def _send(
    raw: Any, template: str, method: str, values: dict[str, str], body: bytes | None = None
) -> Reply:
    query = {k: v for k, v in values.items() if "{" + k + "}" not in template}
    url = _url(template, values)
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    if body is None and method.upper() in ("POST", "PUT"):
        body = b'{"stage": "x"}' if template == "stages/{path}" else b"{}"
    reply: Reply = await raw(url, method=method.upper(), body=body)
    return reply


# -- paths no filesystem opens ---------------------------------------------------------------


@pytest.mark.parametrize("how", sorted(LONG_PATHS))
@pytest.mark.parametrize(("template", "method", "where"), path_takers())
async def test_long_paths_are_400_on_every_endpoint_that_takes_one(
    raw: Any, jp_root_dir: Path, template: str, method: str, where: str, how: str
) -> None:
    notebook(jp_root_dir / STAGE, "1")
    long = LONG_PATHS[how]
    if where == "body":
        field = "folder" if template in ("pipeline/generate", "pipeline/export") else "path"
        reply = await _send(raw, template, method, {}, json.dumps({field: long}).encode())
    else:
        reply = await _send(raw, template, method, {"path": long})
    body = assert_refused(reply, 400)
    assert "bytes" in body["error"], body


# -- names over the bound -------------------------------------------------------------------


@pytest.mark.parametrize(("template", "method", "name"), name_takers())
async def test_long_names_are_400(raw: Any, template: str, method: str, name: str) -> None:
    reply = await _send(raw, template, method, {name: "n" * (limits.MAX_NAME + 1)})
    body = assert_refused(reply, 400)
    assert str(limits.MAX_NAME) in body["error"], body


@pytest.mark.parametrize("query", ["deployment", "target"])
async def test_long_names_in_queries_are_400(raw: Any, query: str) -> None:
    reply = await raw(f"runs?{query}=" + "n" * 300)
    assert_refused(reply, 400)


@pytest.mark.parametrize(
    "url",
    [
        "runs?limit=" + "9" * 5000,
        "runs?limit=1e3",
        "stages?path=" + "a" * 5000,
        "git?path=" + "a/" * 1000,
        "runs?unknown=" + "y" * 5000,
    ],
)
async def test_odd_queries_are_400(raw: Any, url: str) -> None:
    assert_refused(await raw(url), 400)


# -- deep and huge bodies -------------------------------------------------------------------

DEEP = 100_000
BAD_BODIES = {
    "a list nested 100,000 deep": b"[" * DEEP + b"]" * DEEP,
    "an object nested 100,000 deep": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "a field nested past the bound": b'{"path": ' + b"[" * 65 + b"]" * 65 + b"}",
    "parameters nested past the bound": (
        b'{"path": ".", "params": {"a.b": ' + b"[" * 70 + b"]" * 70 + b"}}"
    ),
    "unclosed brackets": b"[" * DEEP,
    "a string holding brackets, then deep": b'["[[[[", ' + b"[" * 80 + b"]" * 80 + b"]",
    "2 MiB of JSON": json.dumps({"path": "x" * (2 << 20)}).encode(),
    "not UTF-8": b'{"path": "\xff\xfe"}',
    "not JSON": b"{oops",
    "an unclosed string with escapes": b'{"path": "' + b'\\"' * 100_000,
}


@pytest.mark.parametrize("what", sorted(BAD_BODIES))
@pytest.mark.parametrize(("template", "method"), body_readers())
async def test_bad_bodies_are_400(
    raw: Any, jp_root_dir: Path, template: str, method: str, what: str
) -> None:
    notebook(jp_root_dir / STAGE, "1")
    reply = await _send(raw, template, method, {"path": STAGE}, BAD_BODIES[what])
    assert_refused(reply, 400)


def test_depth_counts_brackets_outside_strings_only() -> None:
    assert limits.json_depth(b'{"a": "[[[[[[", "b": [[1]]}') == 3
    assert limits.json_depth(b'["\\"[[[", [2]]') == 2
    assert limits.json_depth(b"[" * 10_000, stop=64) == 65
    assert limits.json_depth(b'[[["unclosed [[[[[[') == 3


async def test_a_body_within_the_bounds_is_read(api: Api, jp_root_dir: Path) -> None:
    notebook(jp_root_dir / STAGE, "1")
    deep_tag = {"stage": "a", "parameters": {"x": [[[[1]]]]}}
    reply = await api("PUT", "stages", STAGE, body=deep_tag)
    assert reply.status in (200, 400), reply  # a tag's own rules may refuse it, as a 400
    assert reply.json()


# -- file:// URLs, as git reads them --------------------------------------------------------


@pytest.fixture
def outside_repo(jp_root_dir: Path) -> Path:
    """A committed, deployable project beside the root, and ways from the root to it."""
    repo = two_stage_project(jp_root_dir.parent / "outside")
    git_commit(repo)
    (jp_root_dir / "sub#").mkdir()
    (jp_root_dir / "sub?").mkdir()
    (jp_root_dir / "link").symlink_to(repo)
    (jp_root_dir / "alias.git").symlink_to(repo)  # git tries P.git when P is not there
    (jp_root_dir / "worktree").mkdir()
    (jp_root_dir / "worktree" / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    borrowed = jp_root_dir / "borrowed"
    borrowed.mkdir()
    (borrowed / "HEAD").write_text("ref: refs/heads/master\n")
    (borrowed / "objects" / "info").mkdir(parents=True)
    (borrowed / "refs").mkdir()
    (borrowed / "objects" / "info" / "alternates").write_text(f"{repo / '.git' / 'objects'}\n")
    return repo


def escaping_urls(root: Path, repo: Path) -> dict[str, str]:
    rel = f"../{repo.name}"  # from the root to the repository beside it
    return {
        "plain": repo.as_uri(),
        "#": f"file://{root}/sub#/../{rel}",
        "%23": f"file://{root}/sub%23/../{rel}",
        "?": f"file://{root}/sub?/../{rel}",
        "%2e%2e": f"file://{root}/%2e%2e/{repo.name}",
        "%2E%2e%2f": f"file://{root}/%2E%2e%2f{repo.name}",
        "encoded slashes": f"file://{root}%2f..%2f{repo.name}",
        "a host": f"file://localhost{repo}",
        "another host": f"file://elsewhere{repo}",
        "a bracketed host": f"file://[::1]{repo}",
        "a symlink": f"file://{root}/link",
        "the .git suffix": f"file://{root}/alias",
        "a .git file": f"file://{root}/worktree",
        "alternates": f"file://{root}/borrowed",
        "four slashes": f"file:///{repo}",
    }


@pytest.mark.parametrize("how", sorted(escaping_urls(Path("/r"), Path("/o"))))
async def test_file_urls_that_git_reads_outside_the_root_are_403(
    api: Api, jp_root_dir: Path, outside_repo: Path, how: str
) -> None:
    url = escaping_urls(jp_root_dir, outside_repo)[how]
    reply = await api("POST", "deployments", body={"path": url})
    assert_refused(reply, 403)
    deployments = await api("GET", "deployments", params={"all": "true"})
    assert deployments.json()["deployments"] == [], deployments


@pytest.mark.parametrize(
    "url",
    ["file://", "file://host", "file:///nowhere%00", "file:///" + "x" * 300, "file://%"],
)
async def test_file_urls_that_name_no_repository_are_4xx(api: Api, url: str) -> None:
    assert_refused(await api("POST", "deployments", body={"path": url}))


async def test_a_file_url_to_nothing_inside_the_root_is_404(api: Api, jp_root_dir: Path) -> None:
    # git decodes once: %252e%252e is the folder '%2e%2e', which is not there
    url = f"file://{jp_root_dir}/%252e%252e/outside"
    assert_refused(await api("POST", "deployments", body={"path": url}), 404)


def test_git_file_path_reads_the_url_as_git_does() -> None:
    assert paths.git_file_path("file:///a/b%23c#d?e") == "/a/b#c#d?e"
    assert paths.git_file_path("file://host/a/b/") == "/a/b"
    assert paths.git_file_path("file://[x/y]/a") == "/a"
    assert paths.git_file_path("file://u@[x/y]/a") == "/a"
    assert paths.git_file_path("file:///a/%252e") == "/a/%2e"  # once only
    assert paths.git_file_path("file:////a") == "//a"


def test_repositories_inside_the_root_are_fine(tmp_path: Path) -> None:
    root = tmp_path / "root"
    inside = two_stage_project(root / "project")
    git_commit(inside)
    (root / "wt").mkdir()
    (root / "wt" / ".git").write_text("gitdir: ../project/.git\n")
    for url in (
        inside.as_uri(),
        f"file://localhost{inside}/",
        f"file://{root}/pro%6aect",
        f"file://{root}/wt",
    ):
        paths.file_url_inside_root(root, url)
    # as the system opens it: '..' after a folder that is not there leads nowhere
    for missing in ("missing", "nothing/../project"):
        with pytest.raises(NotFoundError):
            paths.file_url_inside_root(root, f"file://{root}/{missing}")
    with pytest.raises(ForbiddenError):
        paths.file_url_inside_root(root, f"file://{root}/project#/../../..")


async def test_without_a_token_a_long_name_is_still_403(raw: Any) -> None:
    """The bounds are checked after Jupyter's auth: they tell a stranger nothing."""
    reply = await raw("runs/" + "n" * 300, auth=False)
    assert reply.status == 403, reply


def test_the_document_states_the_bounds_the_server_keeps() -> None:
    parameters = document()["components"]["parameters"]
    for name in ("run_id", "stage"):
        assert parameters[name]["schema"]["maxLength"] == limits.MAX_NAME, name
    deploy = document()["components"]["schemas"]["DeployRequest"]["properties"]
    assert deploy["branch"]["maxLength"] == deploy["target"]["maxLength"] == limits.MAX_NAME
    text = document()["info"]["description"]
    assert f"nested at most {limits.MAX_JSON_DEPTH} deep" in text
    assert f"most {paths.MAX_PATH_BYTES} bytes" in text and "1 MiB" in text
    assert limits.MAX_BODY_BYTES == 1 << 20
