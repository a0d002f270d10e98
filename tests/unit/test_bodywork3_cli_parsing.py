"""Bodywork 3's and 2.x's spellings of the commands: parsed, refused or answered before any
deploy (the deploys themselves: tests/engine/test_bodywork3_cli.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bodywork_jupyter.cli.bodywork3 import Unused
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import plan_pipeline
from bodywork_runner.spec import Source
from tests.projects import notebook, write_yaml
from tests.unit.test_cli import bodywork, no_traceback

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nNOT-A-REAL-KEY-0123456789\n-----END OPENSSH PRIVATE KEY-----\n"


def test_bw_is_the_same_command() -> None:
    from bodywork_jupyter._version import __version__

    bw = Path(sys.executable).parent / "bw"
    result = subprocess.run([bw, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
    assert subprocess.run([bw, "version"], capture_output=True, text=True).stdout.strip() == (
        f"bodywork-jupyter {__version__}"
    )


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (
            ["create", "deployment"],
            ["--async", "--bodywork-image", "--ssh", "--retries", "--branch"],
        ),
        (["update", "deployment"], ["--async", "--bodywork-image", "--ssh"]),
        (["get", "deployment"], ["[NAME] [SERVICE]", "--async", "--logs"]),
        (["get", "deployments"], ["[NAME] [SERVICE]"]),
        (["delete", "deployment"], ["NAME [SERVICE]", "--async"]),
        (["delete", "deployments"], ["NAME [SERVICE]"]),
        (
            ["deployment", "create"],
            ["--git-repo-url", "--git-repo-branch", "--local-workflow-controller", "--ns"],
        ),
        (["deployment", "display"], ["--name"]),
        (["deployment", "logs"], ["--name"]),
        (["deployment", "delete_job"], ["--name"]),
        (["service", "display"], ["--namespace"]),
        (["service", "delete"], ["--name"]),
        (["workflow"], ["URL BRANCH", "--bodywork-docker-image"]),
        (["setup-namespace"], ["NAMESPACE"]),
        (["validate"], ["--file", "--check-files"]),
    ],
)
def test_every_spelling_has_help(command: list[str], shown: list[str]) -> None:
    result = bodywork(*command, "--help")
    assert result.returncode == 0, result.stderr
    for text in shown:
        assert text in result.stdout, (text, result.stdout)


def test_validate_takes_bodyworks_file_option(tmp_path: Path) -> None:
    notebook(tmp_path / "a.ipynb", "x = 1")
    write_yaml(tmp_path, 'version: "2.0"\npipeline: {name: p}\nstages:\n  a: {path: a.ipynb}\n')
    result = bodywork("validate", "--file", tmp_path / "bodywork.yaml", "--check-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid (version 2.0)" in result.stdout


def test_image_and_bodywork_image_must_agree(tmp_path: Path) -> None:
    result = bodywork("create", "deployment", tmp_path, "--image", "a:1", "--bodywork-image", "b:2")
    assert result.returncode == 2
    assert "--image and --bodywork-image name different images - give one" in result.stderr


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (
            "ssh-ed25519 AAAAC3Nza test@example\n",
            "id.pub",
            "is not a private key (that is a public key: give the file without .pub)",
        ),
        ("hello\n", "notes.txt", "is not a private key - give the private key git uses"),
        (None, "missing", "no such file - give the private key's path"),
    ],
)
def test_ssh_takes_a_private_key_file(
    tmp_path: Path, content: str | None, name: str, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    result = bodywork("create", "deployment", tmp_path, "--ssh", tmp_path / name,
                      "--state-dir", tmp_path / "state")  # fmt: skip
    assert result.returncode == 2
    no_traceback(result)
    assert message in result.stderr


def test_ssh_with_the_key_itself_is_refused_without_showing_it(tmp_path: Path) -> None:
    result = bodywork("create", "deployment", tmp_path, "--ssh", KEY, "--state-dir", tmp_path / "s")
    assert result.returncode == 2
    assert "--ssh takes the key's file, not the key itself" in result.stderr
    assert "NOT-A-REAL-KEY" not in result.stdout + result.stderr


def test_deleting_one_service_is_refused_with_what_to_do_instead() -> None:
    result = bodywork("delete", "deployment", "calc", "serve")
    assert result.returncode == 2
    assert (
        "error: a deployment's services are deleted with it, not one by one - delete deployment "
        "'calc' (bodywork delete deployment calc), or take stage serve out of bodywork.yaml and "
        "deploy again: a redeploy stops the services the new version no longer has"
    ) in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["delete", "deployment", "async-workflow-x", "--async"],
        ["deployment", "delete_job", "--ns", "x", "--name", "j"],
    ],
)
def test_deleting_a_workflow_job_is_nothing_to_do(command: list[str]) -> None:
    result = bodywork(*command)
    assert result.returncode == 0, result.stderr
    assert "nothing to delete" in result.stdout and "bodywork cancel RUN" in result.stdout


def test_bodyworks_stage_command_is_refused() -> None:
    result = bodywork("stage", "https://github.com/a/b", "master", "train")
    assert result.returncode == 2
    assert "'bodywork stage' ran one stage inside Bodywork's own containers" in result.stderr


def test_a_2x_deployment_create_needs_its_url() -> None:
    result = bodywork("deployment", "create", "--namespace", "ns", "--name", "job")
    assert result.returncode == 2
    assert "give --git-repo-url URL" in result.stderr


def test_setup_namespace_is_configure_cluster(tmp_path: Path) -> None:
    missing = tmp_path / "no-kubeconfig"
    result = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "setup-namespace", "ns"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "KUBECONFIG": str(missing), "HOME": str(tmp_path)},
    )  # fmt: skip
    no_traceback(result)
    assert result.returncode != 0
    assert "kubeconfig" in result.stderr  # it went to the cluster, as configure-cluster does


def plan_of(tmp_path: Path, retries: str = "1"):  # type: ignore[no-untyped-def]
    notebook(tmp_path / "a.ipynb", "x = 1")
    notebook(tmp_path / "s.ipynb", "def predict(r):\n    return r")
    write_yaml(
        tmp_path,
        f'version: "2.0"\npipeline: {{name: calc, secrets_group: prod}}\nstages:\n'
        f"  a: {{path: a.ipynb, retries: {retries}}}\n"
        "  s: {path: s.ipynb, depends_on: [a], service: {port: 8000}}\n",
    )
    return plan_pipeline(load_pipeline(tmp_path), Source(local_path=str(tmp_path)))


def test_what_bodywork_3_asked_for_is_said_once_each(tmp_path: Path) -> None:
    plan = plan_of(tmp_path)
    assert Unused().notes(plan) == []
    # the same as the pipeline's: nothing to say
    assert Unused(group="prod", job_name="calc").notes(plan) == []
    retries, group, name = Unused(retries=3, group="dev", job_name="nightly").notes(plan)
    assert retries == (
        "--retries 3: Bodywork retried a whole --async deployment; here each batch stage "
        "retries as bodywork.yaml says (a: 1) - --retries is not used"
    )
    assert group.startswith("--group dev: ") and "secrets_group (prod)" in group
    assert name == (
        "--name nightly: Bodywork named its --async job so; here the deployment is named "
        "after its pipeline: 'calc' (bodywork logs calc follows its newest run)"
    )
