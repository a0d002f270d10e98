"""The OpenAPI document and the registered handlers agree; real responses fit its schemas."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from bodywork_jupyter.server.routes import ROUTES
from tests.server.conftest import Api
from tests.server.helpers import notebook, two_stage_project, write_yaml
from tests.server.openapi_check import conforms, document

HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def registered() -> dict[str, set[str]]:
    out = {}
    for pattern, handler in ROUTES:
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        out[template] = {m for m in HTTP_METHODS if m in vars(handler)}
    return out


def documented() -> dict[str, set[str]]:
    return {
        path: {m for m in ops if m in HTTP_METHODS} for path, ops in document()["paths"].items()
    }


def test_every_route_documented_and_every_documented_route_registered() -> None:
    assert set(registered()) == set(documented())


@pytest.mark.parametrize("template", sorted(registered()))
def test_methods_match(template: str) -> None:
    assert registered()[template] == documented()[template]


def test_path_parameters_are_declared() -> None:
    for template, operations in document()["paths"].items():
        names = set(re.findall(r"{(\w+)}", template))
        declared = set()
        for item in [
            *operations.get("parameters", []),
            *(p for m in HTTP_METHODS for p in operations.get(m, {}).get("parameters", [])),
        ]:
            item = (
                document()["components"]["parameters"][item["$ref"].rsplit("/", 1)[1]]
                if "$ref" in item
                else item
            )
            if item["in"] == "path":
                declared.add(item["name"])
        assert names == declared, template


def test_component_schemas_are_valid_json_schema() -> None:
    assert document()["openapi"].startswith("3.1")
    for name, schema in document()["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name


async def test_responses_fit_the_schemas(api: Api, jp_root_dir: Path) -> None:
    two_stage_project(jp_root_dir / "demo")
    notebook(jp_root_dir / "demo" / "extra.ipynb", "1", params="x = 'a'")
    write_yaml(
        jp_root_dir / "bad", 'version: "2.0"\npipeline: {name: b}\nstages: {a: {path: a.ipynb}}\n'
    )
    checks = [
        ("stages", "GET", (), {"path": "demo"}, None, 200),
        ("stages/{path}", "GET", ("stages", "demo/train.ipynb"), None, None, 200),
        ("stages/{path}", "PUT", ("stages", "demo/extra.ipynb"), None, {"stage": "extra"}, 200),
        ("stages/{path}", "PUT", ("stages", "demo/extra.ipynb"), None, {"stage": "a b"}, 400),
        ("stages/{path}", "DELETE", ("stages", "demo/extra.ipynb"), None, None, 200),
        ("pipeline/validate", "GET", ("pipeline", "validate"), {"path": "bad"}, None, 200),
        ("pipeline/validate", "GET", ("pipeline", "validate"), {"path": "demo"}, None, 200),
        (
            "pipeline/generate",
            "POST",
            ("pipeline", "generate"),
            None,
            {"folder": "demo", "check": True},
            200,
        ),
        ("pipeline/generate", "POST", ("pipeline", "generate"), None, {"folder": 1}, 400),
        ("pipeline/dag", "GET", ("pipeline", "dag"), {"path": "demo"}, None, 200),
        ("pipeline/dag", "GET", ("pipeline", "dag"), {"path": "bad"}, None, 400),
        ("pipeline/dag", "GET", ("pipeline", "dag"), {"path": ".."}, None, 403),
        ("deployments", "GET", ("deployments",), None, None, 200),
        ("deployments", "POST", ("deployments",), None, {"path": "bad"}, 400),
        ("deployments/{name}", "GET", ("deployments", "x"), None, None, 404),
        ("runs", "GET", ("runs",), None, None, 200),
        ("runs/{run_id}", "GET", ("runs", "x"), None, None, 404),
        ("git", "GET", ("git",), None, None, 200),
    ]
    for template, method, parts, params, body, status in checks:
        reply = await api(method, *(parts or (template,)), params=params, body=body)
        assert reply.status == status, (template, method, reply)
        conforms(template, method, status, reply.json())
