"""TagForm: the stage-tagging form writes the tag through stagefiles.write_tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline import stagefiles
from bodywork_jupyter.widgets import TagForm
from tests.projects import notebook


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    notebook(tmp_path / "prep.ipynb", "x = 1")
    notebook(tmp_path / "features.ipynb", "x = 1")
    notebook(tmp_path / "untagged.ipynb", "x = 1")
    stagefiles.write_tag(tmp_path / "prep.ipynb", {"stage": "prep"})
    stagefiles.write_tag(tmp_path / "features.ipynb", {"stage": "features"})
    notebook(
        tmp_path / "train.ipynb",
        "print(n_estimators)",
        params="n_estimators = 50  # trees\nlabel: str = 'y'\nrate = 0.1",
    )
    return tmp_path


def test_form_shows_the_folder_and_the_parameters(folder: Path) -> None:
    form = TagForm(folder / "train.ipynb")
    assert form.stage.value == "train"  # a new tag: named after the file
    assert form.kind.value == "batch"
    assert list(form.depends_on.options) == ["features", "prep"]  # the other stages found
    assert [(p.name, p.type, p.source) for p in form.parameters] == [
        ("n_estimators", "int", "50"),
        ("label", "str", "'y'"),
        ("rate", "float", "0.1"),
    ]
    assert set(form.params) == {"n_estimators", "label", "rate"}
    assert form.params["rate"].placeholder == "default: 0.1"
    assert form.service_box.layout.display == "none"
    form.kind.value = "service"
    assert form.service_box.layout.display == "flex"
    assert "application/vnd.jupyter.widget-view+json" in form._repr_mimebundle_()


def test_save_writes_the_tag(folder: Path) -> None:
    path = folder / "train.ipynb"
    form = TagForm(path)
    form.stage.value = "train"
    form.depends_on.value = ("prep", "features")
    form.cpu.value = "0.5"
    form.memory.value = "512"
    form.timeout.value = "10m"
    form.retries.value = "2"
    form.params["n_estimators"].value = "200"
    form.params["label"].value = "target"
    form.save_button.click()
    assert form.problems == []
    assert "saved" in form.result.value
    assert stagefiles.read_tag(path) == {
        "stage": "train",
        "kind": "batch",
        "depends_on": ["prep", "features"],
        "parameters": {"n_estimators": 200, "label": "target"},
        "resources": {"cpu_request": 0.5, "memory_request_mb": 512},
        "timeout": "10m",
        "retries": 2,
    }

    # a second form reads the tag back; clearing a field removes it from the tag
    again = TagForm(path)
    assert again.depends_on.value == ("prep", "features")
    assert again.params["n_estimators"].value == "200"
    assert again.params["rate"].value == ""
    assert again.cpu.value == "0.5" and again.timeout.value == "10m"
    again.retries.value = ""
    again.cpu.value = ""
    again.params["label"].value = ""
    again.depends_on.value = ()
    again.kind.value = "service"
    again.port.value = "5000"
    assert again.save()
    assert stagefiles.read_tag(path) == {
        "stage": "train",
        "kind": "service",
        "parameters": {"n_estimators": 200},
        "resources": {"memory_request_mb": 512},
        "timeout": "10m",
        "service": {"port": 5000},
    }


def test_save_shows_problems_and_keeps_the_file(folder: Path) -> None:
    path = folder / "train.ipynb"
    before = path.read_text()
    form = TagForm(path)
    form.retries.value = "-1"
    form.cpu.value = "lots"
    assert not form.save()
    assert any("retries" in p for p in form.problems), form.problems
    assert any("cpu_request" in p for p in form.problems), form.problems
    assert "not saved" in form.result.value
    assert path.read_text() == before

    form.retries.value = ""
    form.cpu.value = ""
    form.stage.value = "  "
    assert not form.save()
    assert form.problems == ["stage: give the stage a name, e.g. train"]

    form.stage.value = "bad name!"
    assert not form.save()
    assert any("stage" in p for p in form.problems)
    assert path.read_text() == before


def test_form_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        TagForm(tmp_path / "missing.ipynb")
