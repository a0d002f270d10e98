"""The stage's code: a local folder as is, or a git repository at one exact commit.

Credentials come from the environment only, and never reach argv, a URL, the log or an
event: ``BODYWORK_GIT_TOKEN`` (HTTPS, through ``GIT_ASKPASS``; the user name is
``BODYWORK_GIT_USERNAME``, default ``x-access-token``) and ``BODYWORK_GIT_SSH_KEY`` (a
private key, written to a 0600 file for the fetch and removed after it).
``git_credentials`` is the one place that turns them into git's environment: the deploying
side (bodywork_jupyter.sources) fetches with it too, from the same variables.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from git import Git
from git.exc import GitCommandError, GitCommandNotFound

from bodywork_runner.errors import BadInput, Unreachable
from bodywork_runner.spec import Source

log = logging.getLogger(__name__)

TOKEN_ENV = "BODYWORK_GIT_TOKEN"
USERNAME_ENV = "BODYWORK_GIT_USERNAME"
SSH_KEY_ENV = "BODYWORK_GIT_SSH_KEY"
KNOWN_HOSTS_ENV = "BODYWORK_GIT_KNOWN_HOSTS"
CREDENTIAL_ENVS = (TOKEN_ENV, SSH_KEY_ENV)

_ASKPASS = """#!/bin/sh
case "$1" in
  [Uu]sername*) printf '%s\\n' "${BODYWORK_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$BODYWORK_GIT_TOKEN" ;;
esac
"""
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


@dataclass(frozen=True)
class Checkout:
    """Where the stage's code is: ``project_dir`` holds bodywork.yaml and the stage files."""

    root: Path
    project_dir: Path
    commit: str | None  # None for a local folder
    temporary: bool  # the runner created root and removes it at the end


def scrub(text: str) -> str:
    """``text`` without the git token and without credentials written into URLs."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        text = text.replace(token, "***")
    return _URL_USERINFO.sub("***@", text)


def fetch_code(source: Source, work_dir: str | None) -> Checkout:
    """The stage's code, ready to run; raises BadInput or Unreachable."""
    if source.local_path:
        root = Path(source.local_path).resolve()
        if not root.is_dir():
            raise BadInput(f"source.local_path {root} is not a folder - check the path")
        return Checkout(root, _project_dir(root, source.project_dir), None, temporary=False)
    if not source.repo or not source.commit:
        raise BadInput("the spec's source needs local_path, or repo and commit")
    if not re.fullmatch(r"[0-9a-fA-F]{7,64}", source.commit):
        raise BadInput(f"source.commit {source.commit!r} is not a commit SHA - pin a full SHA")
    temporary = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="bodywork-code-") if work_dir is None else work_dir)
    try:
        _checkout(root, source.repo, source.commit.lower())
        return Checkout(root, _project_dir(root, source.project_dir), source.commit, temporary)
    except BaseException:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _project_dir(root: Path, project_dir: str) -> Path:
    path = (root / project_dir).resolve()
    if not path.is_dir():
        raise BadInput(f"source.project_dir {project_dir!r} is not a folder in the code")
    return path


def _checkout(root: Path, repo: str, commit: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()) and not (root / ".git").is_dir():
        raise BadInput(f"work_dir {root} holds files but no git checkout - give an empty folder")
    git = Git(str(root))
    try:
        with git_credentials() as env:
            git.execute(["git", "init", "--quiet"])
            git.execute(["git", "config", "advice.detachedHead", "false"])
            remotes = str(git.execute(["git", "remote"])).split()
            verb = "set-url" if "origin" in remotes else "add"
            git.execute(["git", "remote", verb, "origin", repo])
            try:
                git.execute(["git", "fetch", "--quiet", "--depth", "1", "origin", commit], env=env)
                git.execute(["git", "checkout", "--quiet", "--force", "FETCH_HEAD"], env=env)
            except GitCommandError as first:
                # Some servers refuse to fetch a commit by SHA: fetch the branches without
                # file contents (blobless), then check the commit out.
                log.info(
                    "fetching %s by SHA failed, fetching all branches: %s", commit, _why(first)
                )
                _fetch_all(git, env, repo)
                try:
                    git.execute(["git", "checkout", "--quiet", "--force", commit], env=env)
                except GitCommandError as exc:
                    raise BadInput(
                        f"commit {commit} is not in {scrub(repo)} - push it, or pin another "
                        f"commit ({_why(exc)})"
                    ) from None
            head = str(git.execute(["git", "rev-parse", "HEAD"])).strip()
    except GitCommandNotFound:
        raise BadInput("git is not installed - install git in the stage image") from None
    if not head.startswith(commit):
        raise BadInput(f"{scrub(repo)}: checked out {head}, not the pinned commit {commit}")


def _fetch_all(git: Git, env: dict[str, str], repo: str) -> None:
    try:
        git.execute(["git", "fetch", "--quiet", "--filter=blob:none", "--tags", "origin"], env=env)
    except GitCommandError as exc:
        raise Unreachable(
            f"could not fetch the code from {scrub(repo)}: {_why(exc)} - {_access_hint()}"
        ) from None


def _access_hint() -> str:
    """What to check when a fetch failed: the credentials given, or how to give some."""
    given = [name for name in CREDENTIAL_ENVS if os.environ.get(name)]
    if given:
        return f"check the URL, the network and that {' / '.join(given)} may read the repository"
    return (
        f"check the URL and the network; a private repository needs git credentials and "
        f"the runner got none: give it {TOKEN_ENV} or {SSH_KEY_ENV} (on Kubernetes: a "
        f"Secret named by 'bodywork configure-cluster --git-secret NAME')"
    )


def _why(exc: GitCommandError) -> str:
    stderr = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    lines = [line.strip() for line in stderr.replace("stderr:", "").splitlines() if line.strip()]
    text = " / ".join(line.strip("'") for line in lines[-3:]) or f"git exited {exc.status}"
    return scrub(text)


@contextmanager
def git_credentials() -> Iterator[dict[str, str]]:
    """Environment for git commands that talk to the remote, from this process's
    variables (never prompting on a terminal); temp files removed after."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    folder = Path(tempfile.mkdtemp(prefix="bodywork-git-"))
    try:
        if os.environ.get(TOKEN_ENV):
            askpass = folder / "askpass.sh"
            askpass.write_text(_ASKPASS)
            askpass.chmod(stat.S_IRWXU)
            env["GIT_ASKPASS"] = str(askpass)
            # never hand the token to a credential helper that would store it
            env["GIT_CONFIG_COUNT"] = "1"
            env["GIT_CONFIG_KEY_0"] = "credential.helper"
            env["GIT_CONFIG_VALUE_0"] = ""
        key = os.environ.get(SSH_KEY_ENV)
        if key:
            key_file = folder / "id_key"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key.strip() + "\n")
            known_hosts = folder / "known_hosts"
            checking = "accept-new"
            if os.environ.get(KNOWN_HOSTS_ENV):
                known_hosts.write_text(os.environ[KNOWN_HOSTS_ENV].strip() + "\n")
                checking = "yes"
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {key_file} -o IdentitiesOnly=yes -o BatchMode=yes "
                f"-o StrictHostKeyChecking={checking} -o UserKnownHostsFile={known_hosts}"
            )
        yield env
    finally:
        shutil.rmtree(folder, ignore_errors=True)
