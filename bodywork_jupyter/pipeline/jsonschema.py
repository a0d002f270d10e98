"""The JSON Schema of bodywork.yaml 2.0, generated from the models (for editors)."""

from __future__ import annotations

import json
from typing import Any

from bodywork_jupyter.pipeline.schema_v2 import FileV2


def schema() -> dict[str, Any]:
    body = FileV2.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **body,
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
