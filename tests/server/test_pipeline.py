"""pipeline/validate, pipeline/generate, pipeline/dag; and git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.server.conftest import Api
from tests.server.helpers import notebook, two_stage_project, write_yaml


async def test_validate_valid_and_invalid(api: Api, jp_root_dir: Path) -> None:
    two_stage_project(jp_root_dir / "ok")
    valid = await api("GET", "pipeline", "validate", params={"path": "ok"})
    assert valid.status == 200, valid
    assert valid.json() | {"problems": []} == {
        "valid": True,
        "config_file": "ok/bodywork.yaml",
        "found": True,
        "pipeline": "demo",
        "version": "2.0",
        "errors": 0,
        "warnings": 0,
        "problems": [],
    }
    write_yaml(
        jp_root_dir / "bad",
        'version: "2.0"\npipeline: {name: x}\nstages:\n  a: {path: a.ipynb, kidn: batch}\n',
    )
    invalid = await api("GET", "pipeline", "validate", params={"path": "bad"})
    body = invalid.json()
    assert invalid.status == 200 and body["valid"] is False and body["errors"] >= 2
    by_path = {p["path"]: p for p in body["problems"]}
    assert by_path["stages.a.kidn"]["file"] == "bad/bodywork.yaml"
    assert by_path["stages.a.kidn"]["line"] == 4 and "kind" in by_path["stages.a.kidn"]["hint"]
    assert set(by_path["stages.a.kidn"]) == {"file", "line", "path", "message", "hint", "severity"}
    assert body["found"] is True
    (jp_root_dir / "empty").mkdir()
    empty = await api("GET", "pipeline", "validate", params={"path": "empty"})
    assert empty.status == 200 and empty.json()["found"] is False, empty
    assert empty.json()["valid"] is False
    missing = await api("GET", "pipeline", "validate", params={"path": "nope"})
    assert missing.status == 404


async def test_generate_check_then_write(api: Api, jp_root_dir: Path) -> None:
    folder = jp_root_dir / "gen"
    notebook(folder / "prepare.ipynb", "1", tag={"stage": "prepare"})
    notebook(folder / "train.ipynb", "1", tag={"stage": "train", "depends_on": ["prepare"]})
    check = await api("POST", "pipeline", "generate", body={"folder": "gen", "check": True})
    assert check.status == 200, check
    assert check.json()["changed"] is True and check.json()["written"] is False
    assert "+  train:" in check.json()["diff"] and not (folder / "bodywork.yaml").exists()
    assert "added stage 'train' (train.ipynb)" in check.json()["notices"]
    write = await api("POST", "pipeline", "generate", body={"folder": "gen"})
    assert write.json()["written"] is True and write.json()["problems"] == []
    assert (folder / "bodywork.yaml").is_file()
    again = await api("POST", "pipeline", "generate", body={"folder": "gen", "check": True})
    assert again.json()["changed"] is False and again.json()["diff"] == ""
    dag = await api("GET", "pipeline", "dag", params={"path": "gen"})
    assert dag.status == 200, dag
    assert dag.json()["edges"] == [{"from": "prepare", "to": "train"}]
    assert [(n["name"], n["kind"], n["path"]) for n in dag.json()["nodes"]] == [
        ("prepare", "batch", "gen/prepare.ipynb"),
        ("train", "batch", "gen/train.ipynb"),
    ]


async def test_generate_and_dag_bad_input(api: Api, jp_root_dir: Path) -> None:
    notebook(jp_root_dir / "g" / "a.ipynb", "1", tag={"stage": "a", "retries": "often"})
    bad_tags = await api("POST", "pipeline", "generate", body={"folder": "g"})
    assert bad_tags.status == 400, bad_tags
    assert bad_tags.json()["problems"][0]["file"] == "g/a.ipynb"
    for body in ({"folder": 3}, {"check": "maybe"}, {"nope": 1}):
        reply = await api("POST", "pipeline", "generate", body=body)
        assert reply.status == 400 and reply.json()["problems"], (body, reply)
    no_config = await api("GET", "pipeline", "dag", params={"path": "g"})
    assert (
        no_config.status == 400
        and no_config.json()["problems"][0]["message"] == "no bodywork.yaml found"
    )


async def test_git(api: Api, jp_root_dir: Path) -> None:
    plain = await api("GET", "git")
    assert plain.status == 200 and plain.json() == {"path": ".", "is_repo": False}
    repo = jp_root_dir / "repo"
    two_stage_project(repo / "project")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@e.st", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "0")
    git("remote", "add", "origin", "https://user:s3cret@example.com/team/repo.git")
    git("add", "project/prepare.ipynb")
    (repo / "project" / "new.txt").write_text("x")
    # JupyterLab's autosave of an opened notebook is no change of the user's
    (repo / "project" / ".ipynb_checkpoints").mkdir()
    (repo / "project" / ".ipynb_checkpoints" / "prepare-checkpoint.ipynb").write_text("{}")
    reply = await api("GET", "git", params={"path": "repo/project"})
    info = reply.json()
    assert reply.status == 200 and info["is_repo"] is True, reply
    assert (
        info["remote_url"] == "https://***@example.com/team/repo.git"
        and "s3cret" not in reply.body.decode()
    )
    assert info["branch"] == "main" and len(info["commit"]) == 40 and info["dirty"] is True
    assert info["project_dir"] == "project" and info["root"] == str(repo.resolve())
    changed = {c["path"]: c["status"] for c in info["changed_files"]}
    assert changed["project/prepare.ipynb"] == "A" and changed["project/new.txt"] == "??"
    assert not [path for path in changed if ".ipynb_checkpoints" in path]
