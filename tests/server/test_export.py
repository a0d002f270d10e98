"""``POST pipeline/export``: the panel's "Export to Argo", on a real git project whose commit
is on a ``file://`` remote; the YAML is the CLI's (``bodywork export argo``) to the byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.projects import git_commit
from tests.server.conftest import Api
from tests.server.helpers import two_stage_project
from tests.server.openapi_check import conforms
from tests.server.test_bad_input import assert_refused

ROOT = Path(__file__).resolve().parents[2]


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def pushed_project(folder: Path) -> Path:
    """demo (prepare >> train) committed, its commit pushed to a file:// remote."""
    two_stage_project(folder)
    git_commit(folder)
    git(folder, "branch", "-M", "main")
    remote = folder.parent / f"{folder.name}-remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(folder, "remote", "add", "origin", remote.as_uri())
    git(folder, "push", "-q", "origin", "main")
    return folder


def cli_export(folder: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "export", "argo", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


async def test_a_pushed_project_exports_as_the_cli_does(api: Api, jp_root_dir: Path) -> None:
    project = pushed_project(jp_root_dir / "demo")

    shown = await api("POST", "pipeline", "export", body={"folder": "demo"})
    assert shown.status == 200, shown
    reply = shown.json()
    conforms("pipeline/export", "POST", 200, reply)
    assert reply["kind"] == "workflow" and reply["name"] == "demo-"
    assert reply["written"] is False and reply["path"] is None
    assert [d["kind"] for d in docs(reply["yaml"])] == ["Workflow"]
    assert reply["yaml"] == cli_export(project)
    assert not (project / "demo-workflow.yaml").exists()  # write: false writes nothing

    options = {
        "kind": "template",
        "namespace": "ml",
        "image": "python:3.12-slim",
        "image_pull_secrets": ["regcred", "mirror"],
    }
    written = await api(
        "POST", "pipeline", "export", body={"folder": "demo", "write": True, **options}
    )
    assert written.status == 200, written
    reply = written.json()
    conforms("pipeline/export", "POST", 200, reply)
    assert reply["written"] is True and reply["path"] == "demo/demo-template.yaml"
    assert reply["name"] == "demo"
    text = (project / "demo-template.yaml").read_text(encoding="utf-8")
    cli = cli_export(
        project, "--kind", "template", "--namespace", "ml", "--image", "python:3.12-slim",
        "--image-pull-secret", "regcred", "--image-pull-secret", "mirror",
    )  # fmt: skip
    assert text == reply["yaml"] == cli
    (template,) = docs(text)
    assert template["kind"] == "WorkflowTemplate" and template["metadata"]["namespace"] == "ml"
    assert template["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]

    # again to the same file: an earlier export is replaced
    again = await api(
        "POST", "pipeline", "export", body={"folder": "demo", "write": True, **options}
    )
    assert again.status == 200, again

    # a file of the user's is not, unless asked
    (project / "mine.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    body = {"folder": "demo", "write": True, "output": "demo/mine.yaml"}
    refused = assert_refused(await api("POST", "pipeline", "export", body=body), 400)
    assert "demo/mine.yaml: already exists and is not an earlier export" in refused["error"]
    assert "overwrite" in refused["error"]
    assert (project / "mine.yaml").read_text(encoding="utf-8") == "kind: ConfigMap\n"
    replaced = await api("POST", "pipeline", "export", body={**body, "overwrite": True})
    assert replaced.status == 200 and replaced.json()["path"] == "demo/mine.yaml", replaced
    assert docs((project / "mine.yaml").read_text(encoding="utf-8"))[0]["kind"] == "Workflow"


async def test_a_refused_export_says_why_and_writes_nothing(api: Api, jp_root_dir: Path) -> None:
    local_only = two_stage_project(jp_root_dir / "unpushed")
    git_commit(local_only)
    body = {"folder": "unpushed", "write": True}
    error = assert_refused(await api("POST", "pipeline", "export", body=body), 400)["error"]
    assert "remote" in error, error
    assert [p.name for p in local_only.glob("*.yaml")] == ["bodywork.yaml"]

    pushed_project(jp_root_dir / "nocron")
    error = assert_refused(
        await api("POST", "pipeline", "export", body={"folder": "nocron", "kind": "cron"}), 400
    )["error"]
    assert "has no schedule" in error and "--kind workflow or template" in error

    for wrong, says, status in [
        ({"kind": "job"}, "kind", 400),
        ({"folder": "nocron", "surprise": 1}, "surprise", 400),
        ({"folder": "missing"}, "missing: no such file or folder", 404),
        ({"folder": "../x"}, "'..' is refused", 403),
        ({"folder": "nocron", "write": True, "output": "/tmp/x.yaml"}, "absolute", 403),
        ({"folder": "nocron", "write": True, "output": "nocron"}, "is a folder", 400),
        ({"folder": "nocron", "write": True, "output": "no/such/x.yaml"}, "does not exist", 400),
        ({"folder": "nocron", "write": True, "output": "x" * 300 + ".yaml"}, "bytes", 400),
        ({"folder": "nocron", "namespace": "n" * 300}, "namespace", 400),
    ]:
        reply = await api("POST", "pipeline", "export", body=wrong)
        assert says in assert_refused(reply, status)["error"] + reply.body.decode(), (wrong, reply)


async def test_a_deploy_to_argo_is_refused_pointing_to_the_export(
    api: Api, jp_root_dir: Path
) -> None:
    two_stage_project(jp_root_dir / "demo")
    reply = await api("POST", "deployments", body={"path": "demo", "target": "argo"})
    error = assert_refused(reply, 400)["error"]
    assert "not available yet" in error and "bodywork export argo" in error, error
