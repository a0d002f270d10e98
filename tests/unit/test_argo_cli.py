"""``bodywork export argo``, run as a real process on a real git repository and remote."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argo_data import SCHEMA, raw_schema, require
from tests.projects import git_commit

ROOT = Path(__file__).resolve().parents[2]


def bodywork(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", *map(str, args)],
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NO_COLOR": "1",
            "PYTHONPATH": str(ROOT),
            "HOME": os.environ.get("HOME", "/tmp"),
            **(env or {}),
        },
        timeout=120,
    )


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, the words in the message, never a traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """examples/iris committed in a repository whose commit is on its remote (a bare
    repository by path): (the project, the remote, the commit)."""
    return pushed_iris(tmp_path_factory.mktemp("argo-cli"))


def pushed_iris(base: Path, pipeline_lines: str = "") -> tuple[Path, Path, str]:
    """examples/iris in ``base``, ``pipeline_lines`` added to its pipeline section, committed
    and pushed to a bare remote: (the project, the remote, the commit)."""
    project = base / "iris"
    shutil.copytree(ROOT / "examples" / "iris", project)
    config = project / "bodywork.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("  name: iris\n", "  name: iris\n" + pipeline_lines, 1))
    sha = git_commit(project)
    git(project, "branch", "-M", "main")
    remote = base / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "main")
    return project, remote, sha


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _spec(doc: dict[str, Any], template: str) -> dict[str, Any]:
    found = next(t for t in doc["spec"]["templates"] if t["name"] == template)
    env = {e["name"]: e for e in found["container"]["env"]}
    text = env["BODYWORK_STAGE_SPEC"]["value"].replace(
        "{{workflow.parameters.train_n_estimators}}", "0"
    )
    spec: dict[str, Any] = json.loads(text)
    return spec


def test_a_folder_exports_at_its_commit_from_its_remote(iris: tuple[Path, Path, str]) -> None:
    project, remote, sha = iris
    result = ok(bodywork("export", "argo", project))
    (doc,) = _docs(result.stdout)
    assert doc["kind"] == "Workflow" and doc["metadata"]["generateName"] == "iris-"
    assert doc["metadata"]["namespace"] == "iris"  # the pipeline's name, as a deploy's
    source = _spec(doc, "train")["source"]
    assert source == {
        "repo": remote.as_uri(),
        "commit": sha,
        "project_dir": ".",
        "local_path": None,
    }
    assert "Traceback" not in result.stderr


def test_o_writes_the_file_and_says_what_next(iris: tuple[Path, Path, str], tmp_path: Path) -> None:
    project, _, sha = iris
    shown = ok(bodywork("export", "argo", project)).stdout
    out = tmp_path / "iris.yaml"
    result = ok(bodywork("export", "argo", project, "-o", out))
    assert out.read_text(encoding="utf-8") == shown
    assert f"as Workflow iris- to {out}" in result.stdout and sha[:8] in result.stdout
    assert f"argo submit -n iris {out}" in result.stderr
    result = ok(bodywork("export", "argo", project, "--kind", "template", "-o", out))
    (doc,) = _docs(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "WorkflowTemplate" and doc["metadata"]["name"] == "iris"
    assert "argo submit -n iris --from workflowtemplate/iris" in result.stderr


def test_the_options_reach_the_export(iris: tuple[Path, Path, str]) -> None:
    project, _, _ = iris
    result = ok(
        bodywork(
            "export",
            "argo",
            project,
            "--namespace",
            "ml",
            "--image",
            "registry.example.com/s:2",
            "--param",
            "train.n_estimators=80",
            "--service-account",
            "pipelines",
            "--git-secret",
            "git-credentials",
            "--kubectl-image",
            "example.com/kubectl:1",
        )
    )
    (doc,) = _docs(result.stdout)
    spec = doc["spec"]
    assert doc["metadata"]["namespace"] == "ml" and spec["serviceAccountName"] == "pipelines"
    assert spec["arguments"]["parameters"][0]["value"] == "80"
    templates = {t["name"]: t for t in spec["templates"]}
    assert templates["train"]["container"]["image"] == "registry.example.com/s:2"
    env = {e["name"]: e for e in templates["train"]["container"]["env"]}
    assert env["BODYWORK_GIT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "git-credentials"
    assert templates["predict-rollout"]["container"]["image"] == "example.com/kubectl:1"
    assert "--namespace=ml" in templates["predict-rollout"]["container"]["command"]


def test_image_pull_secrets_are_bodywork_yamls_then_the_options(tmp_path: Path) -> None:
    project, _, _ = pushed_iris(tmp_path, "  image_pull_secrets: [regcred]\n")
    result = ok(
        bodywork(
            "export",
            "argo",
            project,
            "--image-pull-secret",
            "team",
            "--image-pull-secret",
            "regcred",
        )
    )
    (doc,) = _docs(result.stdout)
    assert doc["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "team"}]
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    deployment = yaml.safe_load(templates["predict-deployment"]["resource"]["manifest"])
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "regcred"},
        {"name": "team"},
    ]
    (alone,) = _docs(ok(bodywork("export", "argo", project)).stdout)
    assert alone["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_a_pipeline_without_a_schedule_has_no_cron_workflow(
    iris: tuple[Path, Path, str], tmp_path: Path
) -> None:
    project, _, _ = iris
    out = tmp_path / "cron.yaml"
    refused(
        bodywork("export", "argo", project, "--kind", "cron", "-o", out),
        "pipeline iris has no schedule, so there is no CronWorkflow to export",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--kind", "daily"], "Invalid value for '--kind'"),
        (["--namespace", "Not_A_Namespace"], "cannot export to Argo: namespace 'Not_A_Namespace'"),
        (["--service-account", "no spaces"], "service account 'no spaces' is not a Kubernetes"),
        (["--param", "train"], "--param 'train': write STAGE.NAME=VALUE"),
        (
            ["--image-pull-secret", "Reg_Cred"],
            "--image-pull-secret 'Reg_Cred': is not a Kubernetes Secret name",
        ),
        (["--branch", "nowhere"], "has no branch nowhere"),
        (
            ["--schema", "/nonexistent/schema.json"],
            "--schema /nonexistent/schema.json: cannot read",
        ),
    ],
)
def test_bad_options_are_exit_2(iris: tuple[Path, Path, str], args: list[str], words: str) -> None:
    refused(bodywork("export", "argo", iris[0], *args), words)


def test_bad_sources_are_exit_2(tmp_path: Path) -> None:
    refused(bodywork("export", "argo", tmp_path / "missing"), "no such folder")
    plain = tmp_path / "plain"
    shutil.copytree(ROOT / "examples" / "iris", plain)
    refused(
        bodywork("export", "argo", plain),
        "is not in a git repository, and in an Argo export every stage fetches its code with git",
    )
    git_commit(plain)  # committed, on no remote: the cluster cannot fetch it
    refused(bodywork("export", "argo", plain), "is on no remote the cluster can reach")


def test_o_into_a_missing_folder_is_exit_2(iris: tuple[Path, Path, str], tmp_path: Path) -> None:
    refused(
        bodywork("export", "argo", iris[0], "-o", tmp_path / "no" / "such.yaml"),
        f"the folder {tmp_path / 'no'} does not exist",
    )


def test_argos_schema_checks_it_before_anything_is_written(
    iris: tuple[Path, Path, str], tmp_path: Path
) -> None:
    project, _, _ = iris
    require(SCHEMA)
    out = tmp_path / "iris.yaml"
    ok(bodywork("export", "argo", project, "--schema", SCHEMA, "-o", out))
    ok(bodywork("export", "argo", project, "-o", out, env={"BODYWORK_ARGO_SCHEMA": str(SCHEMA)}))
    # an Argo whose Workflows have no podGC: the export fails its check, the file stays
    older = copy.deepcopy(raw_schema())
    del older["definitions"]["io.argoproj.workflow.v1alpha1.WorkflowSpec"]["properties"]["podGC"]
    schema = tmp_path / "older-schema.json"
    schema.write_text(json.dumps(older), encoding="utf-8")
    out.write_text("kept\n", encoding="utf-8")
    stderr = refused(
        bodywork("export", "argo", project, "--schema", schema, "-o", out),
        "the exported Workflow iris- did not pass its checks, so nothing was written",
        "Workflow iris-: spec: unknown key 'podGC'",
    )
    assert "did you mean" in stderr or "remove it" in stderr
    assert out.read_text(encoding="utf-8") == "kept\n"
    schema.write_text("{not json", encoding="utf-8")
    refused(bodywork("export", "argo", project, "--schema", schema), "is not JSON")
    schema.write_text("{}", encoding="utf-8")
    refused(bodywork("export", "argo", project, "--schema", schema), "not Argo's JSON Schema")


def test_help_shows_the_command() -> None:
    assert "argo" in ok(bodywork("export", "--help")).stdout
    text = ok(bodywork("export", "argo", "--help")).stdout
    for option in (
        "--kind [workflow|template|cron]",
        "-o, --output FILE",
        "--namespace",
        "--image",
        "--image-pull-secret NAME",
    ):
        assert option in text
