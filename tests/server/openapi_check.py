"""Checking real responses against the schemas in the OpenAPI document."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

import bodywork_jupyter.server

OPENAPI = Path(bodywork_jupyter.server.__file__).with_name("openapi.yaml")


@functools.cache
def document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return data


def response_schema(
    template: str, method: str, status: int, media: str = "application/json"
) -> dict[str, Any]:
    operation = document()["paths"]["/bodywork/api/" + template][method.lower()]
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = document()["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"][media]["schema"]
    return schema


def conforms(
    template: str, method: str, status: int, body: Any, media: str = "application/json"
) -> None:
    """Raise when ``body`` does not fit the documented response (OpenAPI 3.1 = JSON Schema 2020-12)."""
    schema = {
        **response_schema(template, method, status, media),
        "components": document()["components"],
    }
    jsonschema.Draft202012Validator(schema).validate(body)
