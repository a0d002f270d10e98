"""Notebook stage tags: read, write with a minimal diff, and the parameters cell."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import nbformat
import pytest

from bodywork_jupyter.errors import TagError
from bodywork_jupyter.pipeline import notebook, pymodule, stagefiles


def make_notebook(path: Path, params: str = "alpha = 0.5\n", outputs: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell("print(alpha)")
    if outputs:
        body.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.5\n")]
        body.execution_count = 2
    nb.cells = [nbformat.v4.new_markdown_cell("# Title: ünïcode"), cell, body]
    nbformat.write(nb, path)
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_tag_round_trip_changes_only_metadata(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "train.ipynb")
    before = path.read_text(encoding="utf-8")

    assert notebook.write_tag(path, {"stage": "train", "depends_on": ["prepare"]})

    after = path.read_text(encoding="utf-8")
    assert notebook.read_tag(path) == {"stage": "train", "depends_on": ["prepare"]}
    diff = changed_lines(before, after)
    # only additions, only a handful, and the cells' text is byte-identical
    assert all(line.startswith("+") for line in diff), diff
    assert len(diff) <= 8, diff
    marker = '\n "metadata": {'
    assert after.split(marker)[0] == before.split(marker)[0]
    before_nb, after_nb = json.loads(before), json.loads(after)
    assert before_nb["cells"] == after_nb["cells"]
    del after_nb["metadata"]["bodywork"]
    assert before_nb == after_nb


def test_clearing_the_tag_restores_the_file_byte_for_byte(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb")
    before = path.read_bytes()
    notebook.write_tag(path, {"stage": "nb"})
    assert path.read_bytes() != before
    assert notebook.write_tag(path, None)
    assert path.read_bytes() == before
    assert not notebook.write_tag(path, None)  # nothing to remove


def test_the_result_is_still_a_valid_notebook(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb")
    notebook.write_tag(path, {"stage": "nb", "service": {"port": 5000}, "kind": "service"})
    nbformat.validate(nbformat.read(path, as_version=4))


def test_unsorted_notebooks_keep_their_key_order(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"z": 1}, "cells": []}
    path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    notebook.write_tag(path, {"stage": "nb"})
    text = path.read_text(encoding="utf-8")
    assert text.index('"nbformat"') < text.index('"cells"')  # order kept
    assert text.startswith('{\n  "')  # indent kept


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "invalid JSON"), ('{"a": 1}', "no 'cells'"), (None, "no such notebook")],
)
def test_broken_notebooks_get_a_clear_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "nb.ipynb"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(TagError, match=message):
        notebook.read_tag(path)


def test_parameters_with_types_defaults_and_help(tmp_path: Path) -> None:
    source = (
        "n_estimators = 100  # trees\n"
        "rate: float = 1\n"
        "name = 'iris'\n"
        "flags = [1, 2]\n"
        "now = compute()\n"
        "%matplotlib inline\n"
        "a, b = 1, 2\n"
    )
    path = make_notebook(tmp_path / "nb.ipynb", params=source)
    params = {p.name: p for p in notebook.parameters(path)}
    assert list(params) == ["n_estimators", "rate", "name", "flags", "now"]
    assert (params["n_estimators"].type, params["n_estimators"].default) == ("int", 100)
    assert params["n_estimators"].help == "trees"
    assert (params["rate"].type, params["rate"].default) == ("float", 1)
    assert params["name"].default == "iris"
    assert params["flags"].type == "list"
    assert (params["now"].type, params["now"].default, params["now"].source) == (
        "expression",
        None,
        "compute()",
    )


def test_a_notebook_without_parameters_cell_has_none(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert notebook.parameters(path) == []


def test_a_broken_parameters_cell_says_where(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", params="x = = 1\n")
    with pytest.raises(TagError, match=r"cell 2\): line 1: not valid Python"):
        notebook.parameters(path)


MODULE = '#!/usr/bin/env python\n"""Serve."""\n\nimport flask\n'


def test_module_tag_block_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "serve.py"
    path.write_text(MODULE, encoding="utf-8")
    assert pymodule.write_tag(
        path, {"stage": "serve", "kind": "service", "service": {"port": 5000}}
    )
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env python\n# /// bodywork\n# stage: serve\n")
    assert pymodule.read_tag(path) == {
        "stage": "serve",
        "kind": "service",
        "service": {"port": 5000},
    }
    assert pymodule.write_tag(path, {"stage": "serve2"})
    assert pymodule.read_tag(path) == {"stage": "serve2"}
    assert pymodule.write_tag(path, None)
    assert path.read_text(encoding="utf-8") == MODULE


def test_an_unclosed_module_block_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("# /// bodywork\n# stage: x\nprint(1)\n", encoding="utf-8")
    with pytest.raises(TagError, match="not closed"):
        pymodule.read_tag(path)


def test_an_invalid_tag_is_refused_and_the_file_left_alone(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb")
    before = path.read_bytes()
    with pytest.raises(
        TagError, match=r"metadata\.bodywork\.retires: unknown key - did you mean 'retries'"
    ):
        stagefiles.write_tag(path, {"stage": "nb", "retires": 2})
    assert path.read_bytes() == before


def test_scan_finds_tagged_files_and_skips_the_rest(tmp_path: Path) -> None:
    make_notebook(tmp_path / "a.ipynb")
    notebook.write_tag(make_notebook(tmp_path / "b.ipynb"), {"stage": "b"})
    (tmp_path / ".ipynb_checkpoints").mkdir()
    notebook.write_tag(
        make_notebook(tmp_path / ".ipynb_checkpoints" / "b-checkpoint.ipynb"), {"stage": "b"}
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "serve.py").write_text(
        "# /// bodywork\n# stage: serve\n# ///\n", encoding="utf-8"
    )
    found, problems = stagefiles.scan(tmp_path)
    assert problems == []
    assert [(f.path, f.stage) for f in found] == [("b.ipynb", "b"), ("pkg/serve.py", "serve")]


def test_scan_reports_two_files_claiming_one_stage(tmp_path: Path) -> None:
    notebook.write_tag(make_notebook(tmp_path / "a.ipynb"), {"stage": "same"})
    notebook.write_tag(make_notebook(tmp_path / "b.ipynb"), {"stage": "same"})
    _, problems = stagefiles.scan(tmp_path)
    assert [p.message for p in problems] == ["stage 'same' is also declared by a.ipynb"]
