"""A folder deployed to a cluster goes as the remote that has its commit, or not at all.

Real git repositories: a bare repository beside the project is its remote (by path, as
``git clone /path`` would set it up); nothing is pushed anywhere else.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bodywork_jupyter import deploying
from bodywork_jupyter.backends.local.target import LocalTarget
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.sources import resolve
from bodywork_jupyter.targets import TargetOptions, open_target
from tests.projects import git_commit, notebook, write_yaml

YAML = 'version: "2.0"\npipeline: {name: remote}\nstages: {a: {path: a.ipynb}}\n'
NOT_PUSHED = "is on no remote the cluster can reach - push it (git push)"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def committed(folder: Path) -> str:
    """A committed project in ``folder`` (on branch main): its commit."""
    notebook(folder / "a.ipynb", "print('hello')")
    write_yaml(folder, YAML)
    sha = git_commit(folder)
    git(folder, "branch", "-M", "main")
    return sha


def bare_remote(project: Path, name: str, where: Path, push: bool = True) -> Path:
    """A bare repository at ``where``, added as remote ``name`` (by path), main pushed."""
    subprocess.run(["git", "init", "-q", "--bare", str(where)], check=True)
    git(project, "remote", "add", name, str(where))
    if push:
        git(project, "push", "-q", name, "main")
    return where


class FetchesWithGit(LocalTarget):
    """A target whose stages fetch their code with git, as a cluster's do (without a
    cluster: the Kubernetes target reads the namespace's settings while preparing)."""

    name = "fetches-with-git"
    requires_git = True


Prepare = Callable[..., deploying.Prepared]


@pytest.fixture
def on_cluster(tmp_path: Path) -> Iterator[Prepare]:
    """``prepare`` for a target whose stages fetch their code with git."""
    target = FetchesWithGit(TargetOptions(state_dir=tmp_path / "state"))

    def prepare(where: Path | str, **kwargs: str) -> deploying.Prepared:
        return deploying.prepare(str(where), target=target, **kwargs)

    yield prepare
    target.close()


def test_a_pushed_commit_goes_as_its_remote_and_the_description_names_it(
    tmp_path: Path,
    on_cluster: Prepare,
) -> None:
    project = tmp_path / "project"
    sha = committed(project)
    bare = bare_remote(project, "origin", tmp_path / "remote.git")

    prepared = on_cluster(project)

    source = prepared.plan.source
    assert (source.repo, source.commit) == (bare.resolve().as_uri(), sha)
    assert prepared.description == (
        f"{project.resolve()} at {sha[:8]} from remote origin ({bare.resolve().as_uri()})"
    )


def test_a_commit_on_no_remote_is_refused_before_anything_else(
    tmp_path: Path, on_cluster: Prepare
) -> None:
    project = tmp_path / "project"
    sha = committed(project)
    with pytest.raises(BadInputError) as caught:
        on_cluster(project)
    assert str(caught.value) == (
        f"commit {sha[:8]} of {project.resolve()} is on no remote the cluster can reach - "
        "push it (git push), or deploy a URL the cluster can reach; a file:// URL works for "
        "a cluster whose pods share this machine's files, such as the test cluster"
    )


def test_a_commit_made_after_the_last_push_is_refused(tmp_path: Path, on_cluster: Prepare) -> None:
    project = tmp_path / "project"
    committed(project)
    bare_remote(project, "origin", tmp_path / "remote.git")
    (project / "b.txt").write_text("b", encoding="utf-8")
    newer = git_commit(project, "not pushed")
    with pytest.raises(
        BadInputError, match=re.escape(f"commit {newer[:8]} of {project.resolve()} {NOT_PUSHED}")
    ):
        on_cluster(project)
    pushed = git(project, "rev-parse", "HEAD~1")  # the pushed commit itself may still go
    assert on_cluster(project, commit=pushed).plan.source.commit == pushed


def test_the_upstream_comes_first_then_origin_then_the_others(
    tmp_path: Path, on_cluster: Prepare
) -> None:
    project = tmp_path / "project"
    committed(project)
    other = bare_remote(project, "aaa-other", tmp_path / "other.git")
    origin = bare_remote(project, "origin", tmp_path / "origin.git")
    upstream = bare_remote(project, "zzz-upstream", tmp_path / "upstream.git")

    git(project, "branch", "--set-upstream-to", "zzz-upstream/main")
    assert on_cluster(project).plan.source.repo == upstream.resolve().as_uri()
    git(project, "branch", "--unset-upstream")
    assert on_cluster(project).plan.source.repo == origin.resolve().as_uri()
    git(project, "remote", "remove", "origin")
    assert on_cluster(project).plan.source.repo == other.resolve().as_uri()


def test_a_remote_without_the_commit_is_passed_over(tmp_path: Path, on_cluster: Prepare) -> None:
    project = tmp_path / "project"
    committed(project)
    bare_remote(project, "origin", tmp_path / "origin.git", push=False)
    mirror = bare_remote(project, "mirror", tmp_path / "mirror.git")
    assert on_cluster(project).plan.source.repo == mirror.resolve().as_uri()


def test_a_remote_given_as_a_relative_path_becomes_its_file_url(
    tmp_path: Path, on_cluster: Prepare
) -> None:
    project = tmp_path / "project"
    committed(project)
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "rel.git")], check=True)
    git(project, "remote", "add", "origin", "../rel.git")
    git(project, "push", "-q", "origin", "main")
    sub = project / "deeper"  # deployed from a subfolder: relative to the working tree
    notebook(sub / "a.ipynb", "print(1)")
    write_yaml(sub, YAML)
    git_commit(project, "sub")
    git(project, "push", "-q", "origin", "main")
    source = on_cluster(sub).plan.source
    assert (source.repo, source.project_dir) == (
        (tmp_path / "rel.git").resolve().as_uri(),
        "deeper",
    )


def test_network_remotes_are_taken_as_they_are_and_credentials_are_left_out(
    tmp_path: Path,
    on_cluster: Prepare,
) -> None:
    """The remote-tracking branch is what says the remote has the commit: nothing is fetched."""
    project = tmp_path / "project"
    sha = committed(project)
    git(project, "remote", "add", "origin", "git@example.invalid:team/project.git")
    git(project, "update-ref", "refs/remotes/origin/main", sha)
    assert on_cluster(project).plan.source.repo == "git@example.invalid:team/project.git"

    git(project, "remote", "set-url", "origin", "https://me:s3cret-token@example.invalid/p.git")
    prepared = on_cluster(project)
    assert prepared.plan.source.repo == "https://example.invalid/p.git"
    assert "from remote origin (https://example.invalid/p.git)" in prepared.description
    (warning,) = prepared.warnings
    assert "remote origin's URL holds credentials: they are left out" in warning
    assert "s3cret" not in prepared.description + warning + prepared.plan.model_dump_json()


def test_the_local_target_and_explicit_urls_keep_the_source_they_are_given(
    tmp_path: Path,
    on_cluster: Prepare,
) -> None:
    project = tmp_path / "project"
    sha = committed(project)
    bare_remote(project, "origin", tmp_path / "remote.git")
    local = open_target(TargetOptions(state_dir=tmp_path / "state"))
    assert deploying.prepare(str(project), target=local).plan.source.repo == (
        project.resolve().as_uri()
    )
    with resolve(str(project)) as resolved:  # no target: this machine's rules
        assert resolved.source.repo == project.resolve().as_uri()

    unpushed = tmp_path / "unpushed"
    unpushed_sha = committed(unpushed)
    given = on_cluster(unpushed.resolve().as_uri())  # a file:// URL: as given
    assert (given.plan.source.repo, given.plan.source.commit) == (
        unpushed.resolve().as_uri(),
        unpushed_sha,
    )
    assert sha != unpushed_sha
