"""A private repository over HTTPS-style authentication, from both ends on this machine.

A real git server (tests/gitserver.py: ``git http-backend`` that answers 401 without the
token): the runner fetches with ``BODYWORK_GIT_TOKEN`` and the stage never sees it; without
it, or with a wrong one, the runner fails saying what to do, and shows no token. The
deploying side (bodywork_jupyter.sources) reads the same variable to read bodywork.yaml.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runner_helpers import make_spec, run_runner, runner_env

from bodywork_jupyter.errors import TargetUnreachableError
from bodywork_jupyter.sources import load, resolve
from tests.gitserver import GitServer
from tests.projects import git_commit, notebook, write_yaml

#: The stage writes its whole environment here (a spec env var names the file).
DUMP = (
    "import json, os\n"
    "open(os.environ['ENV_DUMP'], 'w').write(json.dumps(dict(os.environ)))\n"
    "print('stage ran')\n"
)


@pytest.fixture
def token() -> str:
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
def server(tmp_path: Path, token: str) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", token) as served:
        yield served


@pytest.fixture
def private(tmp_path: Path, server: GitServer) -> tuple[str, str]:
    """A committed project (a script stage) served as ``private.git``: its URL and commit."""
    work = tmp_path / "work"
    (work / "job.py").parent.mkdir(parents=True)
    (work / "job.py").write_text(DUMP)
    notebook(work / "a.ipynb", "print('hello')")
    write_yaml(work, 'version: "2.0"\npipeline: {name: private}\nstages: {a: {path: a.ipynb}}\n')
    sha = git_commit(work)
    return server.publish(work, "private"), sha


def spec_for(tmp_path: Path, url: str, sha: str) -> dict[str, object]:
    spec = make_spec(tmp_path, "job.py", tmp_path, work_dir=str(tmp_path / "checkout"))
    spec["source"] = {"repo": url, "commit": sha}
    spec["env"] = {"ENV_DUMP": str(tmp_path / "env.json")}
    return spec


def files_holding(folder: Path, text: str) -> list[str]:
    needle = text.encode()
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


# -- the runner ----------------------------------------------------------------------------


def test_the_runner_fetches_with_the_token_and_the_stage_never_sees_it(
    tmp_path: Path, server: GitServer, private: tuple[str, str], token: str
) -> None:
    url, sha = private
    env = runner_env(BODYWORK_GIT_TOKEN=token, BODYWORK_GIT_USERNAME="deploy-bot")
    result = run_runner(spec_for(tmp_path, url, sha), tmp_path, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.one("code.ready")["commit"] == sha
    assert "stage ran" in result.stdout
    # the server asked for credentials, and git answered with the runner's
    assert server.refused(), server.requests
    assert {r.user for r in server.let_in()} == {"deploy-bot"}
    # the token is in no output, not in the stage's environment, not in the checkout
    assert token not in result.stdout + result.stderr
    stage_env = json.loads((tmp_path / "env.json").read_text())
    assert "BODYWORK_GIT_TOKEN" not in stage_env
    assert not [k for k, v in stage_env.items() if token in v], "a variable holds the token"
    assert not {k for k in stage_env if k.startswith("GIT_")} - set(env), "git's settings leaked"
    assert files_holding(tmp_path / "checkout", token) == []
    assert url in subprocess.run(
        ["git", "-C", str(tmp_path / "checkout"), "remote", "get-url", "origin"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_without_a_token_the_runner_exits_3_saying_how_to_give_one(
    tmp_path: Path, server: GitServer, private: tuple[str, str], token: str
) -> None:
    url, sha = private
    env = runner_env(GIT_CONFIG_GLOBAL=os.devnull)  # no credential helper of this machine's
    env.pop("BODYWORK_GIT_TOKEN", None)
    result = run_runner(spec_for(tmp_path, url, sha), tmp_path, env=env)

    assert result.returncode == 3, result.stdout + result.stderr
    failed = result.one("stage.failed")
    assert failed["reason"] == "unreachable"
    message = failed["message"]
    assert f"could not fetch the code from {url}" in message
    assert "the runner got none: give it BODYWORK_GIT_TOKEN" in message
    assert "bodywork configure-cluster --git-secret NAME" in message
    assert "stage ran" not in result.stdout and "Traceback" not in result.stderr
    assert server.refused() and not server.let_in()


def test_a_wrong_token_fails_and_neither_token_is_shown(
    tmp_path: Path, server: GitServer, private: tuple[str, str], token: str
) -> None:
    url, sha = private
    wrong = f"wrong-{uuid.uuid4().hex}"
    result = run_runner(
        spec_for(tmp_path, url, sha), tmp_path, env=runner_env(BODYWORK_GIT_TOKEN=wrong)
    )

    assert result.returncode == 3, result.stdout + result.stderr
    message = result.one("stage.failed")["message"]
    assert "Authentication failed" in message
    assert "that BODYWORK_GIT_TOKEN may read the repository" in message
    shown = result.stdout + result.stderr
    assert wrong not in shown and token not in shown and "Traceback" not in shown
    assert not server.let_in()


# -- the deploying side: bodywork.yaml read with the same variable --------------------------


def test_the_deploying_side_reads_a_private_url_with_the_token(
    private: tuple[str, str], server: GitServer, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, sha = private
    monkeypatch.setenv("BODYWORK_GIT_TOKEN", token)
    with resolve(url) as resolved:
        assert resolved.source.repo == url and resolved.source.commit == sha
        assert load(resolved).name == "private"
        checkout = resolved.project_root
        assert files_holding(checkout, token) == []  # no credential left in .git/config
    assert {r.user for r in server.let_in()} == {"x-access-token"}  # the runner's default
    assert token not in repr(resolved.source) + resolved.description + resolved.display_root


@pytest.mark.parametrize("given", [None, "wrong"], ids=["no-token", "wrong-token"])
def test_the_deploying_side_without_access_says_what_to_set(
    private: tuple[str, str], server: GitServer, given: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = private
    monkeypatch.delenv("BODYWORK_GIT_TOKEN", raising=False)
    if given:
        monkeypatch.setenv("BODYWORK_GIT_TOKEN", f"{given}-{uuid.uuid4().hex}")
    # no terminal prompt, even with a terminal: a deploy from the Jupyter server has none
    monkeypatch.delenv("GIT_ASKPASS", raising=False)
    monkeypatch.delenv("SSH_ASKPASS", raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # no credential helper either
    with pytest.raises(TargetUnreachableError) as caught:
        resolve(url)
    message = str(caught.value)
    assert f"cannot reach the git repository {url}" in message
    if given:
        assert "that BODYWORK_GIT_TOKEN may read it" in message
        assert os.environ["BODYWORK_GIT_TOKEN"] not in message
    else:
        assert "set BODYWORK_GIT_TOKEN to a token that may read it" in message
    assert not server.let_in()
