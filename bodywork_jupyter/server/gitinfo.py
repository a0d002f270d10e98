"""What the git repository around a folder looks like: root, remote, branch, commit, changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git

from bodywork_jupyter.sources import safe_url

#: JupyterLab's own autosaves, made by opening a notebook: no change of the user's
_NOT_CHECKPOINTS = ":(exclude,glob)**/.ipynb_checkpoints/**"


def describe(folder: Path) -> dict[str, Any]:
    """The repository holding ``folder`` (remote URL without credentials), or is_repo false."""
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"is_repo": False}
    with repo:
        root = Path(repo.working_tree_dir or folder).resolve()
        try:
            commit: str | None = repo.head.commit.hexsha
        except ValueError:  # no commits yet
            commit = None
        branch = None if repo.head.is_detached else repo.active_branch.name
        remote = next((r for r in repo.remotes if r.name == "origin"), None)
        remote = remote or (repo.remotes[0] if repo.remotes else None)
        remote_url = safe_url(next(iter(remote.urls))) if remote is not None else None
        pathspec = folder.resolve().relative_to(root).as_posix() or "."
        changed = _status(repo, pathspec)
    return {
        "is_repo": True,
        "root": str(root),
        "project_dir": pathspec,
        "remote": remote.name if remote is not None else None,
        "remote_url": remote_url,
        "branch": branch,
        "commit": commit,
        "dirty": bool(changed),
        "changed_files": changed,
    }


def _status(repo: git.Repo, pathspec: str) -> list[dict[str, str]]:
    """``git status --porcelain`` for the folder: paths relative to the repository root."""
    out = repo.git.status(
        "--porcelain=v1", "-z", "--untracked-files=all", "--", pathspec, _NOT_CHECKPOINTS
    )
    entries = out.split("\0")
    changed: list[dict[str, str]] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            index += 1  # the original path of a rename or copy follows
        changed.append({"path": path, "status": code.strip() or code})
    return changed
