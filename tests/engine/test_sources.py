"""What ``bodywork deploy`` accepts as its target: folders, git repositories, URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodywork_jupyter.backends.git_source import resolve, safe_url
from bodywork_jupyter.errors import BadInputError, TargetUnreachableError
from tests.engine.helpers import Bodywork
from tests.projects import git_commit, notebook, write_yaml

YAML = 'version: "2.0"\npipeline: {name: src}\nstages: {a: {path: a.ipynb}}\n'


def project(folder: Path) -> Path:
    notebook(folder / "a.ipynb", "print('hello')")
    write_yaml(folder, YAML)
    return folder


def test_a_plain_folder_is_used_as_is(tmp_path: Path) -> None:
    resolved = resolve(str(project(tmp_path / "p")))
    assert resolved.source.local_path == str((tmp_path / "p").resolve())
    assert resolved.source.repo is None


def test_a_git_folder_is_pinned_to_its_commit_and_dirty_files_are_named(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    sha = git_commit(repo)
    (repo / "a.ipynb").write_text("changed", encoding="utf-8")
    resolved = resolve(str(repo))
    assert (resolved.source.repo, resolved.source.commit) == (repo.resolve().as_uri(), sha)
    assert resolved.warnings and "uncommitted changes are not deployed" in resolved.warnings[0]
    # bodywork.yaml is read as committed
    assert (resolved.project_root / "a.ipynb").read_text(encoding="utf-8") != "changed"


def test_a_subfolder_of_a_repository(tmp_path: Path) -> None:
    project(tmp_path / "repo" / "pipelines" / "one")
    sha = git_commit(tmp_path / "repo")
    resolved = resolve(str(tmp_path / "repo" / "pipelines" / "one"))
    assert (resolved.source.project_dir, resolved.source.commit) == ("pipelines/one", sha)


def test_a_git_url_at_a_branch_and_a_commit(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    first = git_commit(repo, "one")
    (repo / "b.txt").write_text("b", encoding="utf-8")
    second = git_commit(repo, "two")
    url = repo.resolve().as_uri()
    assert resolve(url).source.commit == second
    assert resolve(url, commit=first).source.commit == first
    with pytest.raises(BadInputError, match="no branch nope"):
        resolve(url, branch="nope")


def test_an_unreachable_repository_is_exit_3(tmp_path: Path, bw: Bodywork) -> None:
    with pytest.raises(TargetUnreachableError):
        resolve((tmp_path / "missing").as_uri())
    result = bw("deploy", (tmp_path / "missing").as_uri())
    assert result.returncode == 3
    assert "cannot reach the git repository" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_targets_are_exit_2(tmp_path: Path, bw: Bodywork) -> None:
    missing = bw("deploy", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    invalid = tmp_path / "invalid"
    invalid.mkdir()
    (invalid / "bodywork.yaml").write_text('version: "2.0"\npipeline: {name: x}\nstages: {}\n')
    result = bw("deploy", invalid)
    assert result.returncode == 2 and "stages: no stages defined" in result.stderr
    p = project(tmp_path / "ok")
    bad_param = bw("deploy", p, "--param", "nostage.x=1")
    assert bad_param.returncode == 2 and "no stage 'nostage'" in bad_param.stderr


def test_credentials_never_reach_messages() -> None:
    assert safe_url("https://user:s3cret@example.com/r.git") == "https://***@example.com/r.git"
    with pytest.raises(TargetUnreachableError) as caught:
        resolve("https://user:s3cret@127.0.0.1:9/r.git")
    assert "s3cret" not in str(caught.value)
