"""Argo's reference data for the tests: its JSON Schema and CRDs (Apache-2.0), and
the pipeline with every feature the export renders (ours).

They are Argo's, not ours, and not kept in this repository: they are read from
``../shared/argo`` beside it or the workplace's ``/work/shared/argo`` (``BODYWORK_ARGO_DATA``
names another folder). Without them
the tests that need them skip, except in CI, where every check must run.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where the data is looked for: BODYWORK_ARGO_DATA, then ``../shared/argo`` beside this
#: clone, then this workplace's shared folder (a CI clone may live elsewhere).
_PLACES = [ROOT.parent / "shared" / "argo", Path("/work/shared/argo")]
ARGO_DATA = Path(
    os.environ.get("BODYWORK_ARGO_DATA")
    or next((str(place) for place in _PLACES if place.is_dir()), str(_PLACES[0]))
)
SCHEMA = ARGO_DATA / "schema.json"
CRDS = ARGO_DATA / "crds"


def require(path: Path) -> Path:
    """``path``, or the test skips (fails in CI) saying where the data should be."""
    if not path.exists():
        reason = f"Argo's reference data is not at {path} (set BODYWORK_ARGO_DATA)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@cache
def _raw_schema(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def raw_schema() -> dict[str, Any]:
    """Argo's schema.json as published, read once: copy it before changing it."""
    return _raw_schema(require(SCHEMA))


#: A pipeline with every feature the Argo export renders: services (replicas, an Ingress),
#: retries with backoff, a schedule, secrets, a GPU, run_on_failure and parameters.
EVERYTHING = """\
version: "2.0"
pipeline:
  name: churn
  secrets_group: prod
  schedule: "0 3 * * *"
  run_on_failure: alert
stages:
  ingest:
    path: ingest.py
    env: {MODE: full}
    secrets:
      AWS_ACCESS_KEY_ID: aws-credentials
      TOKEN: {secret: api-tokens, key: ingest-token}
    retries: {count: 3, backoff: 30s, backoff_factor: 2, max_backoff: 10m}
    timeout: 20m
  train:
    path: train.ipynb
    depends_on: [ingest]
    parameters: {n_estimators: 200, model_name: churn-gbm, layers: [64, 32]}
    resources: {cpu_request: 0.5, cpu_limit: 4, memory_request_mb: 2048, memory_limit_mb: 8192, gpu: 1}
    requirements: [scikit-learn>=1.3]
    retries: 2
    timeout: 2h
  evaluate:
    path: evaluate.ipynb
    depends_on: [train]
    parameters: {threshold: 0.8}
  serve:
    path: serve.ipynb
    depends_on: [train, evaluate]
    image: registry.example.com/serve:1
    service: {port: 8080, replicas: 2, ingress: true, readiness_path: /ready}
    timeout: 5m
  alert:
    path: alert.py
    secrets: {SLACK_WEBHOOK: slack}
"""
FILES = ("ingest.py", "train.ipynb", "evaluate.ipynb", "serve.ipynb", "alert.py")
