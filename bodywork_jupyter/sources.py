"""Resolve what ``bodywork deploy`` was given to a pinned code source.

- a folder in a git repository: the repository at a commit (HEAD, a branch or a
  commit given), cloned by every stage from ``file://`` exactly as a cluster would
  clone it; uncommitted changes are not part of the deploy (we say so). With
  ``on_remote`` (stages that run elsewhere, e.g. on a cluster) the commit must be on one
  of the repository's remotes, whose URL becomes the source;
- a plain folder: used as is;
- a git URL: resolved to a commit with ``git ls-remote``, then shallow-fetched once
  here to read its bodywork.yaml. Credentials in an http(s) URL are taken out of it for
  stages on this machine (``url_credentials``: the source is the URL without them, they
  are ``ResolvedSource.credentials``); with ``on_remote`` the URL is taken as given (a
  cluster refuses one that holds them).

Git sources are read from a temporary checkout (bodywork.yaml *as committed*, not as
it is in the working tree). The ``ResolvedSource`` owns that checkout and removes it
when closed, so use it as a context manager::

    with resolve(target) as resolved:
        pipeline = load(resolved)
        ...  # plan while the checkout exists

Problems found in bodywork.yaml are reported against ``display_root`` (the user's
folder or the URL), never against the temporary checkout, which is gone by the time
the user reads the message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import git

from bodywork_jupyter import url_credentials
from bodywork_jupyter.errors import BadInputError, ConfigError, TargetUnreachableError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.pipeline.model import Pipeline
from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.url_credentials import UrlCredentials
from bodywork_runner.source import TOKEN_ENV, git_credentials, scrub
from bodywork_runner.spec import Source

__all__ = [
    "ResolvedSource",
    "is_git_url",
    "load",
    "resolve",
    "safe_url",
]

_URL = re.compile(r"^(https?://|ssh://|git://|file://|[\w.-]+@[\w.-]+:)")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
_USERINFO = re.compile(r"(?<=://)[^/@]+@")
_HTTP_USERINFO = re.compile(r"^(https?://)[^/@]+@", re.IGNORECASE)
#: a URL scheme, or git's scp-like ``host:path`` (a colon before any slash)
_URL_OR_SCP = re.compile(r"^[^/:]+:")
_CHECKOUT_PREFIX = "bodywork-source-"


def safe_url(url: str) -> str:
    """The URL without credentials (``https://user:token@host`` -> ``https://***@host``)."""
    return _USERINFO.sub("***@", url)


@dataclass
class ResolvedSource:
    """A pinned code source, and where its bodywork.yaml can be read while it is open.

    ``project_root`` may lie in a temporary checkout that this object owns: leaving
    the ``with`` block (or ``close()``) removes it, so read everything needed from
    it before then. ``display_root`` is how to name the project to a person.
    """

    source: Source
    project_root: Path  # where bodywork.yaml can be read now
    description: str
    display_root: str
    warnings: list[str] = field(default_factory=list)
    checkout: Path | None = None  # the temporary checkout to remove, if one was made
    #: when the deployed commit was made (its committer date); None for a plain folder
    committed: datetime.datetime | None = None
    #: the credentials taken out of the URL (never in ``source``); None when it held none
    credentials: UrlCredentials | None = field(default=None, repr=False)

    def close(self) -> None:
        """Remove the temporary checkout, if any; safe to call more than once."""
        if self.checkout is not None:
            shutil.rmtree(self.checkout, ignore_errors=True)
            self.checkout = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def is_git_url(text: str) -> bool:
    return bool(_URL.match(text))


def resolve(
    target: str, branch: str | None = None, commit: str | None = None, *, on_remote: bool = False
) -> ResolvedSource:
    """Pin ``target`` (a folder, a folder in a git repository, a git URL) to a source.

    ``on_remote``: the stages fetch the code from somewhere else than this machine (a
    cluster), so a folder's commit must be on one of its repository's remotes, and that
    remote's URL is the source; a URL is taken as given either way.

    The result owns any temporary checkout it made: use it in a ``with`` block.
    """
    if branch and commit:
        raise BadInputError("give --branch or --commit, not both")
    if is_git_url(target):
        if on_remote:
            return _resolve_url(target, branch, commit)
        url, credentials = url_credentials.split(target)
        return _resolve_url(url, branch, commit, credentials)
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
            Source(local_path=str(path)),
            path,
            f"folder {path} (not a git repository)",
            display_root=str(path),
        )
    with repo:
        return _resolve_local_repo(repo, path, branch, commit, on_remote)


def load(resolved: ResolvedSource) -> Pipeline:
    """The Pipeline at ``resolved.project_root``, with problems named for a person.

    A ConfigError's problems name files by ``resolved.display_root`` (the user's
    folder, or the URL at its commit) instead of the temporary checkout, which is
    removed before the user reads the message. Files outside the checkout keep
    their names.

    The Pipeline's ``config_file`` and ``root`` are absolute paths *in the checkout*:
    they are only meant for planning, and point into a folder that is removed when
    the ``with`` block around ``resolve`` ends.
    """
    try:
        return load_pipeline(resolved.project_root)
    except ConfigError as exc:
        if resolved.checkout is None:
            raise
        problems = [_renamed(p, resolved.project_root, resolved.display_root) for p in exc.problems]
        raise ConfigError(problems) from None


def _renamed(problem: Problem, root: Path, display_root: str) -> Problem:
    """``problem`` named for a person: ``root`` (in the checkout) becomes ``display_root``.

    The file is renamed when it lies under ``root``; a mention of ``root`` in the
    message or hint (e.g. "run 'bodywork generate ROOT'") is renamed too.
    """
    file = problem.file
    absolute = Path.cwd() / file  # relative names are relative to the cwd
    for candidate in (absolute, absolute.resolve()):
        try:
            relative = candidate.relative_to(root)
        except ValueError:
            continue
        file = display_root if relative == Path() else f"{display_root}/{relative.as_posix()}"
        break
    return dataclasses.replace(
        problem,
        file=file,
        message=_replace_root(problem.message, root, display_root),
        hint=_replace_root(problem.hint, root, display_root),
    )


def _replace_root(text: str, root: Path, display_root: str) -> str:
    """``text`` with ``root``, absolute or relative to the cwd, spelt as ``display_root``."""
    text = text.replace(str(root), display_root)
    cwd = Path.cwd().resolve()
    if root.is_relative_to(cwd) and root != cwd:
        text = text.replace(str(root.relative_to(cwd)), display_root)
    return text


def _resolve_local_repo(
    repo: git.Repo, path: Path, branch: str | None, commit: str | None, on_remote: bool
) -> ResolvedSource:
    root = Path(repo.working_tree_dir or path).resolve()
    project_dir = path.relative_to(root).as_posix() or "."
    sha, remote, warnings = _pinned(repo, root, branch, commit)
    if not commit and not branch and repo.is_dirty(untracked_files=True, path=str(path)):
        warnings.append(
            f"{project_dir}: uncommitted changes are not deployed (commit {sha[:8]} is) - "
            "commit them to include them"
        )
    url, description = root.as_uri(), f"{root} at {sha[:8]}"
    if on_remote:
        name, url = _remote_with(repo, root, sha, remote or _upstream_remote(repo, branch), path)
        if _HTTP_USERINFO.match(url):
            url = _HTTP_USERINFO.sub(r"\1", url)  # a token here would be in every pod's spec
            warnings.append(
                f"remote {name}'s URL holds credentials: they are left out, the cluster "
                f"fetches {url} - a private repository needs git credentials on the cluster"
            )
        description += f" from remote {name} ({safe_url(url)})"
    source = Source(repo=url, commit=sha, project_dir=project_dir)
    # read bodywork.yaml as committed, not as it is in the working tree (the same commit
    # as on the remote: no need to fetch it from there)
    checkout = _checkout(root.as_uri(), sha)
    return ResolvedSource(
        source,
        checkout / project_dir,
        description,
        display_root=str(path),
        warnings=warnings,
        checkout=checkout,
        committed=_commit_time(checkout),
    )


def _pinned(
    repo: git.Repo, root: Path, branch: str | None, commit: str | None
) -> tuple[str, str | None, list[str]]:
    """The commit to deploy, the remote it was found on (a branch that is only a remote's),
    and what to tell the user.

    ``--branch NAME`` is a local branch, else a remote's branch as of the last fetch (a
    clone checks out only the default branch: ``origin/NAME`` first, as ``git switch
    NAME`` would pick it), else any revision git knows by that name (a tag).
    """
    if commit:
        try:
            return repo.commit(commit).hexsha, None, []
        except (git.BadName, ValueError):
            raise BadInputError(
                f"{root}: has no commit {commit} - check it (git log --oneline), or fetch it "
                "first (git fetch) if it is on a remote"
            ) from None
    if branch:
        if branch in repo.heads:
            return repo.heads[branch].commit.hexsha, None, []
        known = {ref.path for ref in repo.refs}
        remotes = sorted(
            (r.name for r in repo.remotes if f"refs/remotes/{r.name}/{branch}" in known),
            key=lambda n: n != "origin",
        )
        if remotes:
            name = remotes[0]
            sha = repo.commit(f"refs/remotes/{name}/{branch}").hexsha
            note = (
                f"branch {branch} is not checked out here: deploying {name}/{branch} at "
                f"{sha[:8]}, as of your last fetch (git fetch {name} to deploy its newest commit)"
            )
            return sha, name, [note]
        try:
            return repo.commit(branch).hexsha, None, []
        except (git.BadName, ValueError):
            raise BadInputError(
                f"{root}: has no branch {branch}, here or on a remote as of the last fetch - "
                "check its name (git branch --all), or fetch it first (git fetch)"
            ) from None
    try:
        return repo.commit("HEAD").hexsha, None, []
    except (git.BadName, ValueError):
        others = sorted(
            {r.remote_head if isinstance(r, git.RemoteReference) else r.name for r in repo.refs}
            - {"HEAD"}
        )
        if others:  # e.g. a clone whose remote's HEAD names a branch it does not have
            raise BadInputError(
                f"{root}: HEAD is on a branch with no commit yet - give --branch (branches: "
                f"{', '.join(others[:5])}), or commit your notebooks first"
            ) from None
        raise BadInputError(
            f"{root}: has no commit yet - commit your notebooks first (git add, git commit)"
        ) from None


def _remote_with(
    repo: git.Repo, root: Path, sha: str, upstream: str | None, path: Path
) -> tuple[str, str]:
    """The remote whose remote-tracking branches hold ``sha`` (as of the last fetch), and
    the URL it is fetched from: ``upstream`` (the branch's, or the remote it was found on)
    first, then ``origin``, then the others as configured. A remote that is a path on this
    machine becomes its file:// URL. None has it: refused, before anything is made.
    """
    names = sorted((r.name for r in repo.remotes), key=lambda n: (n != upstream, n != "origin"))
    for name in names:
        # a pattern matches whole path components: refs/remotes/origin is not origin-2
        if not repo.git.for_each_ref(
            "--contains", sha, "--count=1", "--format=%(refname)", f"refs/remotes/{name}"
        ):
            continue
        try:
            return name, _fetch_url(repo.git.remote("get-url", name), root)
        except git.GitCommandError:  # a remote left without a URL: no one can fetch it
            continue
    raise BadInputError(
        f"commit {sha[:8]} of {path} is on no remote the cluster can reach - push it (git "
        "push), or deploy a URL the cluster can reach; a file:// URL works for a cluster "
        "whose pods share this machine's files, such as the test cluster"
    )


def _upstream_remote(repo: git.Repo, branch: str | None) -> str | None:
    """The remote of the upstream of ``branch`` (or of the checked-out branch), if any."""
    try:
        head = repo.heads[branch] if branch else repo.active_branch
    except (IndexError, TypeError):  # not a local branch, or a detached HEAD
        return None
    tracking = head.tracking_branch()
    return tracking.remote_name if tracking is not None else None


def _fetch_url(url: str, root: Path) -> str:
    """``url`` as another machine fetches it: a URL (or ``host:path``) as it is, a path on
    this machine (relative to the working tree, as git reads it) as its file:// URL."""
    if _URL_OR_SCP.match(url):
        return url
    return (root / Path(url).expanduser()).resolve().as_uri()


def _resolve_url(
    url: str, branch: str | None, commit: str | None, credentials: UrlCredentials | None = None
) -> ResolvedSource:
    if commit and not _SHA.match(commit):
        raise BadInputError(f"--commit {commit}: not a commit hash - give a SHA (7-40 hex digits)")
    # how the URL is named to a person: with ***@ where its credentials were
    shown = url_credentials.shown(url) if credentials else safe_url(url)
    sha = commit
    if sha is None or len(sha) < 40:
        sha = _ls_remote(url, branch, sha, shown, credentials)
    checkout = _checkout(url, sha, shown, credentials)
    source = Source(repo=url, commit=sha)
    return ResolvedSource(
        source,
        checkout,
        f"{shown} at {sha[:8]}",
        display_root=_url_display(shown, sha, source.project_dir),
        checkout=checkout,
        committed=_commit_time(checkout),
        credentials=credentials,
    )


def _url_display(shown: str, sha: str, project_dir: str) -> str:
    """``URL@SHA8`` (the URL as shown), plus ``:DIR`` for a project in a subfolder."""
    named = f"{shown}@{sha[:8]}"
    return named if project_dir in ("", ".") else f"{named}:{project_dir}"


@contextlib.contextmanager
def _git_env(credentials: UrlCredentials | None) -> Iterator[dict[str, str]]:
    """git's environment for a fetch: the runner's variables, or the URL's credentials."""
    with git_credentials() as env:
        yield env if credentials is None else {**env, **url_credentials.git_env(credentials)}


def _ls_remote(
    url: str, branch: str | None, short: str | None, shown: str, credentials: UrlCredentials | None
) -> str:
    refs = ["refs/heads/" + branch] if branch else ["HEAD"]
    try:
        with _git_env(credentials) as env:
            out = str(git.Git().ls_remote(url, *refs, env=env))
    except git.GitCommandError as exc:
        raise TargetUnreachableError(
            f"cannot reach the git repository {shown} ({_scrub(exc.stderr, credentials)}) - "
            f"check the URL and {_access(credentials)}"
        ) from None
    if short:
        raise BadInputError(f"--commit {short}: give the full 40-character SHA for a remote")
    line = out.split("\n")[0] if out else ""
    if not line:
        raise BadInputError(f"{shown}: has no branch {branch}" if branch else f"{shown}: is empty")
    return str(line.split()[0])


def _checkout(
    url: str, sha: str, shown: str | None = None, credentials: UrlCredentials | None = None
) -> Path:
    """A fresh temporary checkout of ``sha``; the caller owns it. Removed again on failure."""
    # resolved, so that paths read back from the checkout (also resolved) lie under it
    target = Path(tempfile.mkdtemp(prefix=_CHECKOUT_PREFIX)).resolve()
    try:
        with git.Repo.init(target) as repo, _git_env(credentials) as env:
            repo.git.fetch("--quiet", "--depth", "1", url, sha, env=env)
            repo.git.checkout("--quiet", "FETCH_HEAD")
    except git.GitCommandError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise TargetUnreachableError(
            f"cannot fetch {sha[:8]} from {shown or safe_url(url)} "
            f"({_scrub(exc.stderr, credentials)}) - check the URL, the commit and "
            f"{_access(credentials)}"
        ) from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _access(credentials: UrlCredentials | None = None) -> str:
    """The deploying user's access to a repository, as this machine's git reads it: the
    URL's own credentials, the runner's variables (BODYWORK_GIT_TOKEN, ...: the same names
    as on a cluster), else git's own credential helpers and ssh agent - never a terminal
    prompt, which a deploy from the Jupyter server could never answer."""
    if credentials is not None:
        return "that the URL's token may read it"
    if os.environ.get(TOKEN_ENV):
        return f"that {TOKEN_ENV} may read it"
    return (
        f"your access (a private repository over https: set {TOKEN_ENV} to a token that "
        "may read it, or use a git credential helper)"
    )


def _commit_time(checkout: Path) -> datetime.datetime:
    """When the checked-out commit was made (for requirements resolved as of its date)."""
    with git.Repo(checkout) as repo:
        return repo.head.commit.committed_datetime


def _scrub(text: str | None, credentials: UrlCredentials | None = None) -> str:
    line = _first_line(text)
    if credentials is not None:
        line = line.replace(credentials.token, "***")
    return safe_url(scrub(line))


def _first_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else "git failed"
