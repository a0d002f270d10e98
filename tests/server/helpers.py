"""Projects and notebooks for the REST API tests."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import nbformat


def notebook(
    path: Path, *cells: str, params: str | None = None, tag: dict[str, Any] | None = None
) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if tag is not None:
        nb.metadata["bodywork"] = tag
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_yaml(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bodywork.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


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
