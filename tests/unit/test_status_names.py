"""The REST API's OpenAPI document names exactly the statuses the read service returns."""

from __future__ import annotations

import typing
from pathlib import Path

import yaml

import bodywork_jupyter.server
from bodywork_jupyter.engine.states import DeploymentStatus, RunStatus, StageStatus

OPENAPI = Path(bodywork_jupyter.server.__file__).with_name("openapi.yaml")


def test_the_openapi_status_enums_are_the_literal_types() -> None:
    schemas = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]
    documented = {name: schemas[name]["properties"]["status"]["enum"]
                  for name in ("Deployment", "RunSummary", "StageStatus")}  # fmt: skip
    assert documented == {
        "Deployment": list(typing.get_args(DeploymentStatus)),
        "RunSummary": list(typing.get_args(RunStatus)),
        "StageStatus": list(typing.get_args(StageStatus)),
    }
