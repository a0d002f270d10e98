"""What ``bodywork deploy`` accepts as its target: folders, git repositories, URLs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bodywork_jupyter.errors import BadInputError, ConfigError, TargetUnreachableError
from bodywork_jupyter.sources import load, resolve, safe_url
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
    with resolve(str(repo)) as resolved:
        assert (resolved.source.repo, resolved.source.commit) == (repo.resolve().as_uri(), sha)
        assert resolved.warnings and "uncommitted changes are not deployed" in resolved.warnings[0]
        # bodywork.yaml is read as committed
        assert (resolved.project_root / "a.ipynb").read_text(encoding="utf-8") != "changed"


def test_a_subfolder_of_a_repository(tmp_path: Path) -> None:
    project(tmp_path / "repo" / "pipelines" / "one")
    sha = git_commit(tmp_path / "repo")
    with resolve(str(tmp_path / "repo" / "pipelines" / "one")) as resolved:
        assert (resolved.source.project_dir, resolved.source.commit) == ("pipelines/one", sha)


def test_a_git_url_at_a_branch_and_a_commit(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    first = git_commit(repo, "one")
    (repo / "b.txt").write_text("b", encoding="utf-8")
    second = git_commit(repo, "two")
    url = repo.resolve().as_uri()
    with resolve(url) as at_head, resolve(url, commit=first) as at_first:
        assert (at_head.source.commit, at_first.source.commit) == (second, first)
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


BROKEN = 'version: "2.0"\npipeline: {name: src}\nstages: {a: {path: missing.ipynb}}\n'


def test_a_git_url_checkout_is_removed_after_the_with_block(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    sha = git_commit(repo)
    with resolve(repo.resolve().as_uri()) as resolved:
        checkout = resolved.project_root
        assert checkout.name.startswith("bodywork-source-")
        assert load(resolved).name == "src"
        assert resolved.display_root == f"{repo.resolve().as_uri()}@{sha[:8]}"
    assert not checkout.exists()
    resolved.close()  # idempotent


def test_a_local_repo_checkout_is_removed_after_the_with_block(tmp_path: Path) -> None:
    folder = project(tmp_path / "repo" / "pipelines" / "one")
    git_commit(tmp_path / "repo")
    with resolve(str(folder)) as resolved:
        checkout = resolved.project_root
        assert (checkout / "bodywork.yaml").is_file()
        assert resolved.display_root == str(folder.resolve())
    assert not checkout.exists()
    assert folder.is_dir()  # the user's folder is never touched


def test_close_removes_the_checkout_without_a_with_block(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    git_commit(repo)
    resolved = resolve(str(repo))
    resolved.close()
    resolved.close()
    assert not resolved.project_root.exists()


def test_a_plain_folder_is_not_removed(tmp_path: Path) -> None:
    folder = project(tmp_path / "p")
    with resolve(str(folder)) as resolved:
        assert resolved.display_root == str(folder.resolve())
        assert load(resolved).name == "src"
    assert (folder / "bodywork.yaml").is_file()


def test_config_errors_in_a_repo_name_the_users_folder(tmp_path: Path) -> None:
    folder = project(tmp_path / "repo" / "pipelines" / "one")
    write_yaml(folder, BROKEN)
    git_commit(tmp_path / "repo")
    with resolve(str(folder)) as resolved, pytest.raises(ConfigError) as caught:
        load(resolved)
    files = {p.file for p in caught.value.problems}
    assert files == {str(folder.resolve() / "bodywork.yaml")}
    assert "bodywork-source-" not in str(caught.value)


def test_config_errors_in_a_git_url_name_the_url(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo")
    write_yaml(repo, BROKEN)
    sha = git_commit(repo)
    url = repo.resolve().as_uri()
    with resolve(url) as resolved, pytest.raises(ConfigError) as caught:
        load(resolved)
    files = {p.file for p in caught.value.problems}
    assert files == {f"{url}@{sha[:8]}/bodywork.yaml"}
    assert "bodywork-source-" not in str(caught.value)


def test_a_missing_config_in_a_repo_names_the_users_folder(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "empty"
    notebook(folder / "a.ipynb", "print('hello')")
    git_commit(tmp_path / "repo")
    with resolve(str(folder)) as resolved, pytest.raises(ConfigError) as caught:
        load(resolved)
    assert [p.file for p in caught.value.problems] == [str(folder.resolve())]
    assert "bodywork-source-" not in str(caught.value)


def test_a_failed_fetch_leaves_no_checkout_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = project(tmp_path / "repo")
    git_commit(repo)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # only this test's checkouts land here
    with pytest.raises(TargetUnreachableError, match="cannot fetch"):
        resolve(repo.resolve().as_uri(), commit="0" * 40)
    assert list(temp.iterdir()) == []
