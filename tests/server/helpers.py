"""Projects and notebooks for the REST API tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.projects import notebook, write_yaml


def read_tag(path: Path) -> Any:
    return json.loads(path.read_text())["metadata"].get("bodywork")


def two_stage_project(folder: Path) -> Path:
    """prepare >> train (a parameter n), valid, not yet deployed."""
    notebook(folder / "prepare.ipynb", "print('preparing')")
    notebook(folder / "train.ipynb", "print('trained with', n)", params="n = 1  # trees")
    write_yaml(
        folder,
        """\
        version: "2.0"
        pipeline: {name: demo}
        stages:
          prepare: {path: prepare.ipynb}
          train: {path: train.ipynb, depends_on: [prepare]}
        """,
    )
    return folder
