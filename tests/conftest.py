"""Shared test setup: hypothesis profiles and a helper that writes a project folder."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: A notebook small enough to be a real .ipynb file.
EMPTY_NOTEBOOK = json.dumps(
    {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1
)

ProjectWriter = Callable[..., Path]


def write_project(
    root: Path, config: str | None, *files: str, text: dict[str, str] | None = None
) -> Path:
    """Write ``bodywork.yaml`` (dedented) and stage files into ``root``; return ``root``.

    ``files`` are relative paths created with placeholder content (a notebook for
    ``.ipynb``); ``text`` maps further relative paths to their content.
    """
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "bodywork.yaml").write_text(textwrap.dedent(config).lstrip("\n"), encoding="utf-8")
    for name in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(EMPTY_NOTEBOOK if name.endswith(".ipynb") else "print('hi')\n")
    for name, content in (text or {}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


@pytest.fixture
def project(tmp_path: Path) -> ProjectWriter:
    """``project(yaml_text, "prep.py", "train.ipynb")`` -> the project folder (in tmp_path)."""

    def make(config: str | None, *files: str, text: dict[str, str] | None = None) -> Path:
        return write_project(tmp_path / "project", config, *files, text=text)

    return make
