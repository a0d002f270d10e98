"""The ``bodywork`` command, run as a real process: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.corpus import BrokenCase, broken_cases
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def bodywork(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_examples_validate(example: str) -> None:
    result = bodywork("validate", EXAMPLES / example)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_invalid_config_exits_2_listing_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bodywork.yaml").write_text(
        'version: "2.0"\npipeline:\n  nam: x\nstages:\n  a:\n    path: a.ipynb\n    retries: lots\n',
        encoding="utf-8",
    )
    result = bodywork("validate", tmp_path)
    assert result.returncode == 2
    no_traceback(result)
    out = result.stdout
    assert "bodywork.yaml:3: pipeline.nam: unknown key - did you mean 'name'?" in out
    assert (
        "bodywork.yaml:7: stages.a.retries: expected a whole number or a mapping, got 'lots'" in out
    )
    assert "bodywork.yaml:6: stages.a.path: stage file 'a.ipynb' does not exist" in out
    assert "problems found" in result.stderr


def test_validate_json_output(tmp_path: Path) -> None:
    result = bodywork("validate", "--json", EXAMPLES / "iris")
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert data["pipeline"]["stages"]["predict"] == {
        "kind": "service",
        "path": "predict.ipynb",
        "depends_on": ["train"],
    }


def test_missing_config_is_bad_input(tmp_path: Path) -> None:
    result = bodywork("validate", tmp_path)
    assert result.returncode == 2
    assert "no bodywork.yaml found - run 'bodywork generate" in result.stdout


def test_schema_matches_golden() -> None:
    result = bodywork("schema")
    assert result.returncode == 0
    assert_golden("bodywork-2.0.schema.json", result.stdout)
    schema = json.loads(result.stdout)
    assert schema["properties"]["stages"]["additionalProperties"]["$ref"] == "#/$defs/StageV2"


def test_schema_to_file(tmp_path: Path) -> None:
    result = bodywork("schema", "-o", tmp_path / "s.json")
    assert result.returncode == 0
    assert (
        json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["title"]
        == "bodywork.yaml 2.0"
    )


def test_tag_then_generate_then_validate(tmp_path: Path) -> None:
    for name in ("prep", "serve"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    assert (
        bodywork("tag", tmp_path / "prep.ipynb", "--stage", "prep", "--param", "n=3").returncode
        == 0
    )
    result = bodywork(
        "tag",
        tmp_path / "serve.ipynb",
        "--stage",
        "serve",
        "--service",
        "--port",
        "8080",
        "--depends-on",
        "prep",
    )
    assert result.returncode == 0, result.stderr
    assert "tagged as stage 'serve' (service, after prep)" in result.stdout
    assert bodywork("generate", "--check", tmp_path).returncode == 1
    assert bodywork("generate", tmp_path).returncode == 0
    assert bodywork("generate", "--check", tmp_path).returncode == 0
    assert bodywork("validate", tmp_path).returncode == 0
    shown = bodywork("tag", tmp_path / "prep.ipynb", "--show")
    assert "stage: prep" in shown.stdout and "n: 3" in shown.stdout
    assert bodywork("tag", tmp_path / "prep.ipynb", "--clear").returncode == 0
    assert "not a stage" in bodywork("tag", tmp_path / "prep.ipynb", "--show").stdout


def test_tag_errors_are_bad_input(tmp_path: Path) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "a.ipynb")
    no_name = bodywork("tag", tmp_path / "a.ipynb", "--batch")
    assert no_name.returncode == 2
    assert "give the stage name with --stage NAME" in no_name.stderr
    bad_param = bodywork("tag", tmp_path / "a.ipynb", "--stage", "a", "--param", "novalue")
    assert bad_param.returncode == 2
    assert "not NAME=VALUE" in bad_param.stderr
    bad_name = bodywork("tag", tmp_path / "a.ipynb", "--stage", "has space")
    assert bad_name.returncode == 2
    no_traceback(bad_name)
    missing = bodywork("tag", tmp_path / "nope.ipynb", "--stage", "x")
    assert missing.returncode == 2
    for result in (no_name, bad_param, bad_name, missing):
        no_traceback(result)


def test_generate_with_broken_tags_exits_2(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "# /// bodywork\n# stage: m\n# kind: sevice\n# ///\n", encoding="utf-8"
    )
    result = bodywork("generate", tmp_path)
    assert result.returncode == 2
    assert "m.py: # /// bodywork.kind: expected 'batch' or 'service'" in result.stderr
    assert not (tmp_path / "bodywork.yaml").exists()


@pytest.mark.parametrize(
    "command", [[], ["validate"], ["generate"], ["tag"], ["schema"], ["version"]]
)
def test_help_everywhere(command: list[str]) -> None:
    result = bodywork(*command, "--help")
    assert result.returncode == 0
    assert "Usage: bodywork" in result.stdout


def test_usage_errors_exit_2() -> None:
    result = bodywork("validate", "--nope")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_version() -> None:
    from bodywork_jupyter._version import __version__

    assert bodywork("version").stdout.strip() == f"bodywork-jupyter {__version__}"
    assert __version__ in bodywork("--version").stdout


def test_reference_doc_is_current() -> None:
    from bodywork_jupyter.pipeline.reference import render

    path = ROOT / "docs" / "reference" / "bodywork-yaml-2.0.md"
    if os.environ.get("REGEN_GOLDEN"):
        path.write_text(render(), encoding="utf-8")
    assert path.read_text(encoding="utf-8") == render(), (
        "docs/reference/bodywork-yaml-2.0.md is stale: run the tests with REGEN_GOLDEN=1"
    )


def test_tag_refuses_service_options_on_a_batch_stage(tmp_path: Path) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "a.ipynb")
    result = bodywork("tag", tmp_path / "a.ipynb", "--stage", "a", "--batch", "--port", "80")
    assert result.returncode == 2
    assert "--port only make sense for a service - drop --batch or use --service" in result.stderr


@pytest.mark.parametrize("case", broken_cases(), ids=str)
def test_every_broken_config_exits_2_naming_its_field(case: BrokenCase) -> None:
    result = bodywork("validate", case.folder)
    assert result.returncode == 2, result.stdout
    no_traceback(result)
    where = f"bodywork.yaml:{case.line}: " + (f"{case.field}: " if case.field else "")
    assert where in result.stdout, result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["deploy"],
        ["schedule", "create"],
        ["schedule", "update"],
        ["create", "deployment"],
        ["update", "cronjob"],
    ],
    ids=" ".join,
)
def test_an_image_pull_secret_on_this_machine_is_refused_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    project = tmp_path / "project"  # refused before the source is read: none is needed
    result = bodywork(*command, project, "--image-pull-secret", "regcred",
                      "--state-dir", tmp_path / "state")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: --image-pull-secret regcred: means nothing on this machine - stages run on "
        "this machine's Python here, in no image, so nothing is pulled; it is for a cluster "
        "(--target kubernetes) or an Argo export (bodywork export argo)"
    ]


def test_without_an_image_pull_secret_nothing_is_said_of_one(tmp_path: Path) -> None:
    result = bodywork("deploy", tmp_path / "missing", "--state-dir", tmp_path / "state")
    assert result.returncode == 2
    assert "image-pull-secret" not in result.stdout + result.stderr
