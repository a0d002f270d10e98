"""Resolve what ``bodywork deploy`` was given to a pinned code source.

- a folder in a git repository: the repository at a commit (HEAD, a branch or a
  commit given), cloned by every stage from ``file://`` exactly as a cluster would
  clone it; uncommitted changes are not part of the deploy (we say so);
- a plain folder: used as is;
- a git URL: resolved to a commit with ``git ls-remote``, then shallow-fetched once
  here to read its bodywork.yaml.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import git

from bodywork_jupyter.errors import BadInputError, TargetUnreachableError
from bodywork_runner.spec import Source

_URL = re.compile(r"^(https?://|ssh://|git://|file://|[\w.-]+@[\w.-]+:)")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_USERINFO = re.compile(r"(?<=://)[^/@]+@")


def safe_url(url: str) -> str:
    """The URL without credentials (``https://user:token@host`` -> ``https://***@host``)."""
    return _USERINFO.sub("***@", url)


@dataclass
class ResolvedSource:
    source: Source
    project_root: Path  # where bodywork.yaml can be read now
    description: str
    warnings: list[str] = field(default_factory=list)


def is_git_url(text: str) -> bool:
    return bool(_URL.match(text))


def resolve(target: str, branch: str | None = None, commit: str | None = None) -> ResolvedSource:
    if branch and commit:
        raise BadInputError("give --branch or --commit, not both")
    if is_git_url(target):
        return _resolve_url(target, branch, commit)
    path = Path(target).expanduser()
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise BadInputError(f"{target}: no such folder - give a project folder or a git URL")
    path = path.resolve()
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        if branch or commit:
            raise BadInputError(
                f"{target} is not in a git repository, so --branch/--commit do not apply"
            ) from None
        return ResolvedSource(
            Source(local_path=str(path)), path, f"folder {path} (not a git repository)"
        )
    return _resolve_local_repo(repo, path, branch, commit)


def _resolve_local_repo(
    repo: git.Repo, path: Path, branch: str | None, commit: str | None
) -> ResolvedSource:
    root = Path(repo.working_tree_dir or path).resolve()
    project_dir = path.relative_to(root).as_posix() or "."
    try:
        rev = commit or branch or "HEAD"
        sha = repo.commit(rev).hexsha
    except (git.BadName, ValueError):
        what = f"commit {commit}" if commit else f"branch {branch}" if branch else "a commit"
        raise BadInputError(
            f"{root}: has no {what} - commit your notebooks first (git add, git commit)"
        ) from None
    warnings = []
    if not commit and not branch and repo.is_dirty(untracked_files=True, path=str(path)):
        warnings.append(
            f"{project_dir}: uncommitted changes are not deployed (commit {sha[:8]} is) - "
            "commit them to include them"
        )
    source = Source(repo=root.as_uri(), commit=sha, project_dir=project_dir)
    # read bodywork.yaml as committed, not as it is in the working tree
    checkout = _checkout(root.as_uri(), sha)
    return ResolvedSource(source, checkout / project_dir, f"{root} at {sha[:8]}", warnings)


def _resolve_url(url: str, branch: str | None, commit: str | None) -> ResolvedSource:
    if commit and not _SHA.match(commit):
        raise BadInputError(f"--commit {commit}: not a commit hash - give a SHA (7-40 hex digits)")
    sha = commit
    if sha is None or len(sha) < 40:
        sha = _ls_remote(url, branch, sha)
    checkout = _checkout(url, sha)
    return ResolvedSource(Source(repo=url, commit=sha), checkout, f"{safe_url(url)} at {sha[:8]}")


def _ls_remote(url: str, branch: str | None, short: str | None) -> str:
    try:
        out = str(git.Git().ls_remote(url, *(["refs/heads/" + branch] if branch else ["HEAD"])))
    except git.GitCommandError as exc:
        raise TargetUnreachableError(
            f"cannot reach the git repository {safe_url(url)} ({_scrub(exc.stderr)}) - "
            "check the URL and your access"
        ) from None
    if short:
        raise BadInputError(f"--commit {short}: give the full 40-character SHA for a remote")
    line = out.split("\n")[0] if out else ""
    if not line:
        where = safe_url(url)
        raise BadInputError(f"{where}: has no branch {branch}" if branch else f"{where}: is empty")
    return str(line.split()[0])


def _checkout(url: str, sha: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="bodywork-source-"))
    try:
        repo = git.Repo.init(target)
        repo.git.fetch("--quiet", "--depth", "1", url, sha)
        repo.git.checkout("--quiet", "FETCH_HEAD")
    except git.GitCommandError as exc:
        raise TargetUnreachableError(
            f"cannot fetch {sha[:8]} from {safe_url(url)} ({_scrub(exc.stderr)}) - check the URL, "
            "the commit and your access"
        ) from None
    return target


def _scrub(text: str | None) -> str:
    return safe_url(_first_line(text))


def _first_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else "git failed"
