"""A private repository deployed on this machine with the token in its URL.

A real git server (tests/gitserver.py: ``git http-backend``, 401 without the token) serves
the project; nothing on this machine has credentials for it (no ``BODYWORK_GIT_TOKEN``, no
git credential helper): only the URL holds them. The deploy reads bodywork.yaml with them
and every stage fetches the code with them, from the deployment's secret in the state
folder's secret store; the token is in no output, record or other file of the state folder.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import bodywork_jupyter
from bodywork_jupyter import deploying
from bodywork_jupyter.backends.local.target import LocalTarget
from bodywork_jupyter.targets import TargetOptions
from tests.engine.helpers import Bodywork, run_id_of
from tests.gitserver import GitServer
from tests.projects import git_commit, write_yaml

#: The stage says which git variables it sees (names only) and that it ran.
JOB = """\
import json, os, pathlib
seen = sorted(k for k in os.environ if k.startswith("BODYWORK_GIT"))
pathlib.Path(os.environ["BODYWORK_DATA_DIR"], "seen.json").write_text(json.dumps(seen))
print("job ran")
"""
SECRET = Path("secrets") / "bodywork-git-private.json"


@pytest.fixture
def token() -> str:
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
def server(tmp_path: Path, token: str) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", token) as served:
        yield served


@pytest.fixture
def url(tmp_path: Path, server: GitServer) -> str:
    """A committed project (one module stage) served as ``private.git``: its plain URL."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(JOB, encoding="utf-8")
    write_yaml(work, 'version: "2.0"\npipeline: {name: private}\nstages: {job: {path: job.py}}\n')
    git_commit(work)
    return server.publish(work, "private")


@pytest.fixture(autouse=True)
def no_credentials_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the URL may give the credentials: none in the environment or git's helpers."""
    for name in ("BODYWORK_GIT_TOKEN", "BODYWORK_GIT_USERNAME", "GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


def with_token(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def shown(result: subprocess.CompletedProcess[str], token: str) -> str:
    text = result.stdout + result.stderr
    assert token not in text, f"the token was shown:\n{text}"
    return text


def files_holding(state: Path, token: str) -> list[str]:
    """The state folder's files holding ``token``, the deployment's secret aside."""
    return [
        str(path.relative_to(state))
        for path in state.rglob("*")
        if path.is_file()
        and path.relative_to(state) != SECRET
        and token.encode() in path.read_bytes()
    ]


def test_the_stages_fetch_with_the_urls_token_which_is_kept_only_in_the_secret_store(
    bw: Bodywork, server: GitServer, url: str, token: str
) -> None:
    deployed = bw("deploy", with_token(url, f"deploy-bot:{token}"))
    text = shown(deployed, token)
    assert deployed.returncode == 0, text
    run_id = run_id_of(deployed)
    assert f"deploying {url.replace('http://', 'http://***@')} at " in text
    assert (
        "warning: the URL's git credentials are kept in this machine's secret store "
        "(secret 'bodywork-git-private', a 0600 file in the state folder)"
    ) in text

    # the stage ran, from code its runner fetched with the token; it never saw the token
    data = bw.state_dir / "deployments" / "private" / "data"
    assert json.loads((data / "seen.json").read_text()) == ["BODYWORK_GIT_USERNAME"]
    assert "job ran" in shown(bw("logs", run_id), token)
    assert server.refused(), "the server never asked for credentials"
    assert {r.user for r in server.let_in()} == {"deploy-bot"}
    fetches = [r for r in server.let_in() if r.method == "POST"]
    assert len(fetches) >= 2, fetches  # the deploy's checkout and the stage's

    # the records hold the URL without the token, and the secret's name, never its value
    run = bw.store().get_run(run_id)
    assert run is not None and run.status == "succeeded"
    assert run.source["repo"] == url
    assert run.plan["source"]["repo"] == url
    assert run.plan["stages"]["job"]["secrets"]["BODYWORK_GIT_TOKEN"] == {
        "group": None, "secret": "bodywork-git-private", "key": "BODYWORK_GIT_TOKEN",
    }  # fmt: skip
    for command in (("get", "runs"), ("get", "runs", "private"), ("get", "deployment")):
        result = bw(*command)
        assert result.returncode == 0, shown(result, token)
    detail = bw("get", "deployment", "private")
    assert detail.returncode == 0 and url in shown(detail, token), detail

    # the token is in the secret store's file (0600) and nowhere else under the state folder
    state = bw.state_dir
    secret = state / SECRET
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert json.loads(secret.read_text())["data"] == {
        "BODYWORK_GIT_TOKEN": token, "BODYWORK_GIT_USERNAME": "deploy-bot",
    }  # fmt: skip
    assert token.encode() not in (state / "runs.sqlite").read_bytes()
    assert list((state / "runs" / run_id).rglob("spec*.json")), "no runner spec written"
    assert files_holding(state, token) == []

    # the credentials go with the deployment
    assert bw("delete", "deployment", "private").returncode == 0
    assert not secret.exists()


def test_the_python_api_keeps_a_token_alone_out_of_the_run_too(
    bw: Bodywork, server: GitServer, url: str, token: str
) -> None:
    run = bodywork_jupyter.deploy(with_token(url, token), state_dir=bw.state_dir, wait=True)
    try:
        assert run.status == "succeeded", run.message
        assert run.record.source["repo"] == url
        assert token not in repr(run) + json.dumps(run.record.plan) + run.logs()
        assert token not in " ".join(run.warnings)
        assert any("kept in this machine's secret store" in w for w in run.warnings)
    finally:
        run.close()
    # only a token: the runner's user name, as BODYWORK_GIT_TOKEN alone would give
    assert {r.user for r in server.let_in()} == {"x-access-token"}
    assert files_holding(bw.state_dir, token) == []


def test_a_deploy_whose_url_has_none_deletes_the_kept_credentials(
    tmp_path: Path, server: GitServer, url: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = LocalTarget(TargetOptions(state_dir=tmp_path / "state"))
    secret = tmp_path / "state" / SECRET
    try:
        first = deploying.prepare(with_token(url, f"bot:{token}"), target=target)
        assert first.plan.source.repo == url and token not in first.plan.model_dump_json()
        assert secret.is_file()
        assert token not in first.description + repr(first)

        # the same deployment from the plain URL (the token given the runner's own way)
        monkeypatch.setenv("BODYWORK_GIT_TOKEN", token)
        second = deploying.prepare(url, target=target)
        assert not secret.exists()
        assert second.plan.stages["job"].secrets == {}
        assert any(
            w.startswith("deleted the git credentials an earlier deploy's URL gave 'private'")
            for w in second.warnings
        ), second.warnings

        third = deploying.prepare(url, target=target)  # nothing kept: nothing to say
        assert not any("git credentials" in w for w in third.warnings)
    finally:
        target.close()
