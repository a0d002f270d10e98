"""``bodywork generate``: bodywork.yaml from tags, round-trip safe."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline import notebook, pymodule
from bodywork_jupyter.pipeline.generate import generate, write
from bodywork_jupyter.pipeline.load import check, load_pipeline
from tests.golden import assert_golden


def nb(path: Path, tag: dict[str, object] | None) -> None:
    nbformat.write(nbformat.v4.new_notebook(), path)
    if tag is not None:
        notebook.write_tag(path, tag)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "My_Project"
    root.mkdir()
    nb(root / "prepare.ipynb", {"stage": "prepare", "parameters": {"rows": 100}})
    nb(
        root / "train.ipynb",
        {"stage": "train", "depends_on": ["prepare"], "timeout": "10m", "retries": 2},
    )
    nb(root / "scratch.ipynb", None)
    (root / "serve.py").write_text("print('hi')\n", encoding="utf-8")
    pymodule.write_tag(
        root / "serve.py",
        {
            "stage": "serve",
            "kind": "service",
            "depends_on": ["train"],
            "service": {"port": 5000, "replicas": 2},
        },
    )
    return root


def run(root: Path) -> str:
    result = generate(root)
    write(result)
    return result.new_text


def test_new_file_matches_golden_and_validates(project: Path) -> None:
    text = run(project)
    assert_golden("generate_new.yaml", text)
    pipeline = load_pipeline(project)
    assert pipeline.name == "my-project"
    assert list(pipeline.stages) == ["prepare", "train", "serve"]
    assert pipeline.stages["serve"].kind == "service"
    assert pipeline.stages["serve"].service is not None
    assert pipeline.stages["serve"].service.replicas == 2
    assert pipeline.stages["train"].timeout_seconds == 600
    assert pipeline.stages["prepare"].parameters == {"rows": 100}


def test_second_run_changes_nothing(project: Path) -> None:
    first = run(project)
    again = generate(project)
    assert not again.changed
    assert again.new_text == first


def test_hand_written_fields_and_comments_survive(project: Path) -> None:
    run(project)
    config = project / "bodywork.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "  train:\n", "  # trains the model\n  train:\n    image: custom:1  # GPU image\n"
    )
    text = text.replace("pipeline:\n", "pipeline:\n  schedule: '0 3 * * *'  # nightly\n")
    config.write_text(text, encoding="utf-8")
    # the tag changes: train gets a parameter, loses its timeout
    notebook.write_tag(
        project / "train.ipynb",
        {"stage": "train", "depends_on": ["prepare"], "parameters": {"n": 5}},
    )
    result = generate(project)
    write(result)
    new = config.read_text(encoding="utf-8")
    assert "# trains the model" in new
    assert "image: custom:1  # GPU image" in new
    assert "schedule: '0 3 * * *'  # nightly" in new
    assert "n: 5" in new
    # timeout is a field the user may own: it was not removed by the tag's change
    assert "timeout: 10m" in new
    changed = [
        line
        for line in result.diff().splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["+    parameters:", "+      n: 5"]


def test_owned_fields_follow_the_tag(project: Path) -> None:
    run(project)
    notebook.write_tag(project / "train.ipynb", {"stage": "train"})
    text = run(project)
    train_block = text.split("  train:")[1].split("  serve:")[0]
    assert "depends_on" not in train_block


def test_a_renamed_stage_keeps_its_entry(project: Path) -> None:
    run(project)
    config = project / "bodywork.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "    path: prepare.ipynb\n", "    path: prepare.ipynb\n    env: {A: '1'}\n"
        ),
        encoding="utf-8",
    )
    notebook.write_tag(project / "prepare.ipynb", {"stage": "load", "parameters": {"rows": 100}})
    notebook.write_tag(project / "train.ipynb", {"stage": "train", "depends_on": ["load"]})
    result = generate(project)
    assert "renamed stage 'prepare' to 'load' (prepare.ipynb)" in result.notices
    write(result)
    pipeline = load_pipeline(project)
    assert pipeline.stages["load"].env == {"A": "1"}
    assert next(iter(pipeline.stages)) == "load"


def test_deleted_files_drop_their_stage_and_untagged_ones_stay(project: Path) -> None:
    run(project)
    (project / "serve.py").unlink()
    pymodule_free = generate(project)
    assert "removed stage 'serve': serve.py no longer exists" in pymodule_free.notices
    write(pymodule_free)
    notebook.write_tag(project / "prepare.ipynb", None)  # untagged: now the user's stage
    result = generate(project)
    assert not result.changed
    assert "prepare" in check(project).pipeline.stages  # type: ignore[union-attr]


def test_check_mode_reports_out_of_date(project: Path) -> None:
    assert generate(project).changed  # no file yet
    run(project)
    notebook.write_tag(project / "scratch.ipynb", {"stage": "scratch"})
    result = generate(project)
    assert result.changed
    assert "+  scratch:" in result.diff()


def test_a_version_1_1_file_is_not_overwritten(project: Path) -> None:
    (project / "bodywork.yaml").write_text('version: "1.1"\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"version 1\.1"):
        generate(project)


def test_bad_tags_are_problems_with_the_file_named(project: Path) -> None:
    nb(project / "bad.ipynb", None)
    path = project / "bad.ipynb"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["metadata"]["bodywork"] = {"stage": "x", "kindd": "batch"}
    path.write_text(json.dumps(raw), encoding="utf-8")
    result = generate(project)
    assert [p.render() for p in result.problems] == [
        "bad.ipynb: metadata.bodywork.kindd: unknown key - did you mean 'kind'?"
    ]


def test_a_service_turned_batch_loses_its_service_section(project: Path) -> None:
    run(project)
    pymodule.write_tag(
        project / "serve.py", {"stage": "serve", "kind": "batch", "depends_on": ["train"]}
    )
    run(project)
    stage = load_pipeline(project).stages["serve"]
    assert (stage.kind, stage.service) == ("batch", None)


def test_untagged_files_keep_their_entry_with_a_notice(project: Path) -> None:
    run(project)
    notebook.write_tag(project / "prepare.ipynb", None)
    result = generate(project)
    assert any(
        n.startswith("kept stage 'prepare': prepare.ipynb has no tag") for n in result.notices
    )


@pytest.mark.parametrize(
    ("folder", "name"), [("My Project!", "my-project"), ("data_v2", "data-v2"), ("___", "pipeline")]
)
def test_pipeline_name_from_any_folder_name(folder: str, name: str) -> None:
    from bodywork_jupyter.pipeline.generate import pipeline_name

    assert pipeline_name(folder) == name
