"""``python:`` and ``requirements_as_of``: validated, carried from the file to the runner's
spec, and the date a deploy resolves requirements as of (with what it says about it)."""

from __future__ import annotations

import datetime
import json
import textwrap
from pathlib import Path

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import check_text
from bodywork_jupyter.pipeline.model import Pipeline
from bodywork_jupyter.plan import plan_pipeline
from bodywork_jupyter.plan.requirements_date import requirements_date
from bodywork_jupyter.plan.runner_spec import Placement, runner_spec
from bodywork_runner.spec import Source, StageSpec
from tests.golden import assert_golden

SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40)
COMMITTED = datetime.datetime(
    2022, 5, 3, 23, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-2))
)


def _check(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    for name in ("prep.py", "serve.py", "train.ipynb"):
        (tmp_path / name).write_text("")
    return check_text(textwrap.dedent(text), tmp_path / "bodywork.yaml")


V2 = """
version: "2.0"
pipeline:
  name: old-pins
  python: "3.9"
  requirements_as_of: 2022-06-01
stages:
  prep:
    path: prep.py
    requirements: [pandas==1.4.0]
  train:
    path: train.ipynb
    depends_on: [prep]
    python: "3.10"
  serve:
    path: serve.py
    depends_on: [train]
    service: {port: 5000}
"""


def _pipeline(tmp_path: Path, text: str = V2) -> Pipeline:
    result = _check(tmp_path, text)
    assert result.pipeline is not None, [p.render() for p in result.problems]
    return result.pipeline


def test_python_and_the_date_are_read_and_a_stage_python_wins(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    assert (pipeline.python, pipeline.requirements_as_of) == ("3.9", "2022-06-01")
    plan = plan_pipeline(pipeline, SOURCE, requirements_as_of="2022-06-02T00:00:00Z")
    assert {n: s.python for n, s in plan.stages.items()} == {
        "prep": "3.9",
        "train": "3.10",
        "serve": "3.9",
    }
    # --python replaces the pipeline's; a stage's own still wins
    given = plan_pipeline(pipeline, SOURCE, python="3.8")
    assert {n: s.python for n, s in given.stages.items()} == {
        "prep": "3.8",
        "train": "3.10",
        "serve": "3.8",
    }


def test_the_plan_carries_them_to_the_runner_spec(tmp_path: Path) -> None:
    plan = plan_pipeline(_pipeline(tmp_path), SOURCE, requirements_as_of="2022-06-02T00:00:00Z")
    text = json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    assert_golden("plan-python.json", text)
    spec = runner_spec(plan, plan.stages["prep"], Placement(run_id="r", attempt=1))
    assert (spec.python, spec.requirements_as_of) == ("3.9", "2022-06-02T00:00:00Z")
    again = StageSpec.from_json(spec.to_json())  # what the runner reads
    assert (again.python, again.requirements_as_of) == ("3.9", "2022-06-02T00:00:00Z")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("python: 3.9", "pipeline.python: expected text, got 3.9 - put the value in quotes"),
        ('python: "3"', "pipeline.python: must be a Python version such as \"3.9\", got '3'"),
        ('python: "python3.9"', 'must be a Python version such as "3.9"'),
        (
            "requirements_as_of: yesterday",
            "pipeline.requirements_as_of: 'yesterday' is neither commit nor a date - write "
            "commit (the deployed commit's date) or a date such as 2022-06-01",
        ),
        ('requirements_as_of: "2022-02-30"', "'2022-02-30' is neither commit nor a date"),
        ("requirements_as_of: none", "'none' is neither commit nor a date"),
    ],
)
def test_wrong_values_are_explained(tmp_path: Path, setting: str, message: str) -> None:
    text = (
        f'version: "2.0"\npipeline:\n  name: p\n  {setting}\nstages:\n  prep: {{path: prep.py}}\n'
    )
    result = _check(tmp_path, text)
    assert result.pipeline is None
    assert any(message in p.render() for p in result.errors), [p.render() for p in result.errors]


def test_a_stage_python_is_checked_too(tmp_path: Path) -> None:
    text = 'version: "2.0"\npipeline: {name: p}\nstages:\n  prep: {path: prep.py, python: 3.10}\n'
    result = _check(tmp_path, text)
    assert [p.render().split(": ", 1)[1] for p in result.errors] == [
        "stages.prep.python: expected text, got 3.1 - put the value in quotes"
    ]


V1 = """
version: "1.1"
pipeline:
  name: classic
  docker_image: bodyworkml/bodywork-core:latest
  DAG: prep
stages:
  prep:
    executable_module_path: prep.py
    requirements: [flask==2.1.2]
    cpu_request: 0.5
    memory_request_mb: 100
    batch: {max_completion_time_seconds: 30, retries: 0}
logging:
  log_level: INFO
"""


def test_a_1_1_file_is_resolved_as_of_its_commit(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, V1)
    assert pipeline.requirements_as_of == "commit" and pipeline.python is None
    dated = requirements_date(pipeline, None, COMMITTED, "1a2b3c4d5e6f")
    # 23:30 at UTC-2 is the 4th in UTC: that whole day counts
    assert dated.as_of == "2022-05-05T00:00:00Z"
    assert dated.note == (
        "requirements are resolved as of 2022-05-04, the date of commit 1a2b3c4d (a Bodywork "
        "1.1 file: as when it was written): packages published later are left out - deploy "
        "with --requirements-as-of none to resolve them as of today"
    )
    off = requirements_date(pipeline, "none", COMMITTED, "1a2b3c4d5e6f")
    assert (off.as_of, off.note) == (None, None)
    given = requirements_date(pipeline, "2021-12-31", COMMITTED, "1a2b3c4d5e6f")
    assert given.as_of == "2022-01-01T00:00:00Z"
    assert given.note is not None and "as of 2021-12-31 (--requirements-as-of)" in given.note


def test_a_folder_without_git_has_no_commit_date(tmp_path: Path) -> None:
    dated = requirements_date(_pipeline(tmp_path, V1), None, None, None, "/home/me/classic")
    assert dated.as_of is None
    assert dated.note == (
        "requirements are resolved as of today: /home/me/classic is not a git repository, so "
        "it has no commit date to resolve them as of (a Bodywork 1.1 file: as when it was "
        "written) - give --requirements-as-of DATE to resolve them as of a date"
    )


def test_a_2_0_file_opts_in(tmp_path: Path) -> None:
    plain = V2.replace("  requirements_as_of: 2022-06-01\n", "")
    assert requirements_date(_pipeline(tmp_path, plain), None, COMMITTED, "ab") == (
        requirements_date(_pipeline(tmp_path, plain), "none", COMMITTED, "ab")
    )
    assert requirements_date(_pipeline(tmp_path, plain), None, COMMITTED, "ab").as_of is None
    dated = requirements_date(_pipeline(tmp_path), None, COMMITTED, "ab")
    assert dated.as_of == "2022-06-02T00:00:00Z"
    assert dated.note is not None and "(pipeline.requirements_as_of)" in dated.note
    by_commit = requirements_date(_pipeline(tmp_path, plain), "commit", COMMITTED, "abcdef0123")
    assert by_commit.as_of == "2022-05-05T00:00:00Z"


def test_nothing_to_resolve_says_nothing(tmp_path: Path) -> None:
    none = V1.replace("    requirements: [flask==2.1.2]\n", "")
    assert requirements_date(_pipeline(tmp_path, none), None, COMMITTED, "ab").note is None


def test_a_wrong_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--requirements-as-of soon: give commit, a date"):
        requirements_date(_pipeline(tmp_path, V1), "soon", COMMITTED, "ab")
