"""A notebook service's cells and parameters, read without papermill: the same cells, in the
same order, with the same values as papermill's own parameterising gives a batch notebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from bodywork_runner.errors import BadInput
from bodywork_runner.service import code_cells

PARAMETERS: dict[str, Any] = {
    "name": 'it\'s "quoted"\n',
    "n": 3,
    "rate": 0.5,
    "on": True,
    "nothing": None,
    "rows": [{"a": 1}, [2, "b"]],
}


def _notebook(path: Path, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# a title"))
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def _papermills(path: Path, parameters: dict[str, Any]) -> list[str]:
    nb = parameterize_notebook(load_notebook_node(str(path)), parameters)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _run(sources: list[str]) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    for source in sources:
        exec(source, namespace)  # the test's own cells
    namespace.pop("__builtins__")
    return namespace


@pytest.mark.parametrize(
    "cells",
    [
        [("a = 1", []), ("n = 1\nname = 'x'", ["parameters"]), ("out = n * 2", [])],
        [("n = 1", ["parameters"]), ("n = 99", ["injected-parameters"]), ("out = n", [])],
        [("out = 1", []), ("seen = n", [])],  # no parameters cell: the values come first
    ],
    ids=["after-parameters", "replacing-injected", "first"],
)
def test_the_parameters_go_where_papermill_puts_them(
    tmp_path: Path, cells: list[tuple[str, list[str]]]
) -> None:
    path = _notebook(tmp_path / "nb.ipynb", *cells)
    ours, theirs = code_cells(path, PARAMETERS), _papermills(path, PARAMETERS)
    assert len(ours) == len(theirs)
    # the same cells around the injected one, and the same values once they have run
    injected = [i for i, source in enumerate(theirs) if source.startswith("# Parameters")]
    assert [i for i, source in enumerate(ours) if source.startswith("# Parameters")] == injected
    assert [s for i, s in enumerate(ours) if i not in injected] == [
        s for i, s in enumerate(theirs) if i not in injected
    ]
    assert _run(ours) == _run(theirs)
    assert _run(ours)["name"] == PARAMETERS["name"]


def test_without_parameters_the_code_cells_are_the_notebooks(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "nb.ipynb", ("a = 1", []), ("b = 2", ["parameters"]))
    assert code_cells(path, {}) == ["a = 1", "b = 2"]


@pytest.mark.parametrize(
    "text", ["{not json", json.dumps({"nbformat": 4}), json.dumps({"cells": [{"source": 1}]})]
)
def test_a_file_that_is_not_a_notebook_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(text)
    with pytest.raises(BadInput, match=r"nb\.ipynb is not a readable notebook"):
        code_cells(path, {"n": 1})
