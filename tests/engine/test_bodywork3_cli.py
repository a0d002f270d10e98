"""Bodywork 3's and 2.x's spellings deploying real projects on this machine; ``--ssh``
through a stand-in ``ssh``; a branch only a remote has; a Bodywork 2.x (version 1.0) file."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine.helpers import Bodywork, run_id_of
from tests.projects import free_port, git_commit, notebook, write_yaml


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def calc(folder: Path, name: str) -> int:
    """A committed project: batch stage ``prep``, then service ``score_service``; its port."""
    port = free_port()
    notebook(folder / "prep.ipynb", "print('prep says hello')")
    notebook(folder / "serve.ipynb", "def predict(request):\n    return {'y': 2 * request['x']}")
    write_yaml(
        folder,
        f"""
        version: "2.0"
        pipeline: {{name: {name}}}
        stages:
          prep: {{path: prep.ipynb, retries: 1}}
          score_service:
            path: serve.ipynb
            depends_on: [prep]
            service: {{port: {port}, replicas: 2}}
        """,
    )
    git_commit(folder)
    return port


def batch(folder: Path, name: str, says: str) -> str:
    """A committed one-stage batch project printing ``says``: its commit."""
    notebook(folder / "job.ipynb", f"print({says!r})")
    write_yaml(
        folder, f'version: "2.0"\npipeline: {{name: {name}}}\nstages:\n  job: {{path: job.ipynb}}\n'
    )
    return git_commit(folder)


def wait_until(what: str, check, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def fields(text: str) -> dict[str, str]:
    """``KEY   value`` lines -> {KEY: value}."""
    return {
        k: v.strip()
        for k, _, v in (
            line.partition(" ") for line in text.splitlines() if line and not line.startswith(" ")
        )
    }


# -- Bodywork 3 --------------------------------------------------------------------------------


def test_create_get_update_and_delete_deployment(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "calc"
    port = calc(project, "calc")
    sha = git(project, "rev-parse", "HEAD")

    made = bw("create", "deployment", project, "--async", "--bodywork-image", "img:1",
              "--retries", "2", "--name", "nightly")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    run_id = run_id_of(made)
    assert f"follow it with: bodywork logs {run_id} --follow" in made.stdout  # --async: at once
    assert "--retries 2: Bodywork retried a whole --async deployment" in made.stderr
    assert "(prep: 1) - --retries is not used" in made.stderr
    assert "--name nightly: Bodywork named its --async job so" in made.stderr
    assert "image img:1: stages run on this machine's Python here, in no image" in made.stderr

    def serving() -> str | None:
        shown = bw("get", "deployment", "calc").stdout
        return shown if "status       serving" in shown else None

    detail = wait_until("the deployment to serve", serving)
    head = fields(detail)
    assert head["deployment"] == "calc"
    assert head["target"] == "local"
    assert head["source"] == f"{project.resolve().as_uri()} at {sha[:8]}"
    assert head["serving"] == f"run {run_id} (commit {sha[:8]})"
    lines = detail.splitlines()
    stages = detail.split(f"stages of run {run_id} (deployed):\n")[1].split("\n\n")[0]
    (prep,) = [ln.split() for ln in stages.splitlines() if ln.startswith("  prep ")]
    assert prep[:4] == ["prep", "batch", "succeeded", "1"]
    (serve,) = [ln.split() for ln in stages.splitlines() if ln.startswith("  score_service ")]
    assert serve[:3] == ["score_service", "service", "ready"]
    assert serve[-1] == f"http://127.0.0.1:{port}"
    assert f"  score_service    http://127.0.0.1:{port}  (port {port}, 2 replicas)" in lines
    (last,) = [ln.split() for ln in lines if ln.startswith(f"  {run_id}")]
    assert last[1] == "deployed"

    # one service, by its stage name or by the Kubernetes name Bodywork showed
    for name in ("score_service", "score-service"):
        service = bw("get", "deployment", "calc", name)
        assert service.returncode == 0, service.stderr
        shown = fields(service.stdout)
        assert shown["service"] == "score_service"
        assert shown["url"] == f"http://127.0.0.1:{port}"
        assert (shown["status"], shown["port"], shown["replicas"]) == ("ready", str(port), "2")
        assert (shown["file"], shown["run"], shown["ingress"]) == ("serve.ipynb", run_id, "no")
    missing = bw("get", "deployment", "calc", "nope")
    assert missing.returncode == 2
    assert "deployment 'calc' has no service 'nope' (services: score_service)" in missing.stderr

    # Bodywork 3's --async views: the runs (its workflow jobs), and a run's logs
    jobs = bw("get", "deployments", "--async")
    assert any(ln.startswith(run_id) for ln in jobs.stdout.splitlines()), jobs.stdout
    logs = bw("get", "deployment", "--logs", run_id)
    assert "prep        | prep says hello" in logs.stdout

    updated = bw("update", "deployment", project)  # followed until it serves
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert f"score_service is serving at http://127.0.0.1:{port}" in updated.stdout
    again = bw("get", "deployment", "calc").stdout
    assert f"serving      run {run_id_of(updated)}" in again
    assert sum(ln.startswith("  2") for ln in again.split("last runs:")[1].splitlines()) == 2

    refused = bw("delete", "deployment", "calc", "score_service")
    assert refused.returncode == 2
    assert "a deployment's services are deleted with it, not one by one" in refused.stderr
    deleted = bw("delete", "deployments", "calc")
    assert deleted.returncode == 0, deleted.stderr
    assert "no deployments" in bw("get", "deployments").stdout


# -- Bodywork 2.x ------------------------------------------------------------------------------


def test_bodywork_2_spellings(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "old"
    port = calc(project, "old")
    url, branch = project.resolve().as_uri(), git(project, "branch", "--show-current")

    made = bw("deployment", "create", "--namespace", "ml", "--name", "job-1",
              "--git-repo-url", url, "--git-repo-branch", branch, "--retries", "2",
              "--local-workflow-controller")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"score_service is serving at http://127.0.0.1:{port}" in made.stdout  # followed
    assert "--namespace ml names a cluster's namespace: left out on this machine" in made.stderr
    assert "--name job-1: Bodywork named its --async job so" in made.stderr
    run_id = run_id_of(made)

    display = bw("deployment", "display", "--ns", "ml")
    assert display.stdout.splitlines()[1].split()[:3] == [run_id, "old", "deployed"]
    logs = bw("deployment", "logs", "--ns", "ml", "--name", "old")
    assert "prep        | prep says hello" in logs.stdout
    services = bw("service", "display", "--ns", "ml")
    serving = f"{run_id}@{git(project, 'rev-parse', 'HEAD')[:8]}"  # the version answering
    assert services.stdout.splitlines()[1].split() == [
        "old/score_service",
        f"http://127.0.0.1:{port}",
        serving,
    ]
    refused = bw("service", "delete", "--ns", "ml", "--name", "score_service")
    assert refused.returncode == 2
    assert "delete deployment 'old' (bodywork delete deployment old)" in refused.stderr

    rerun = bw("workflow", "--namespace", "ml", url, branch)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"score_service is serving at http://127.0.0.1:{port}" in rerun.stdout
    assert run_id_of(rerun) != run_id


# -- create deployment --ssh -------------------------------------------------------------------

#: A stand-in for ssh (git runs ``ssh [-i KEY] [-o ...] HOST COMMAND``): lets in only the
#: test's key, notes each use, and runs git's command here, as the remote side would.
FAKE_SSH = """#!/bin/sh
key=""
while [ $# -gt 0 ]; do
  case "$1" in
    -i) key="$2"; shift 2 ;;
    -o|-p|-l) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
shift
if [ -z "$key" ] || ! grep -q "{marker}" "$key"; then
  echo "fake ssh: Permission denied (publickey)" >&2
  exit 255
fi
echo used >> "{log}"
exec sh -c "$*"
"""


def test_ssh_key_reaches_this_machines_git_and_the_stages_and_nothing_else(
    tmp_path: Path, bw: Bodywork, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = "MARKER-0f3c9a"
    key = tmp_path / "id_test"
    key.write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{marker}\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    key.chmod(0o600)
    used = tmp_path / "ssh-used.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.format(marker=marker, log=used))
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("BODYWORK_GIT_SSH_KEY", raising=False)

    project = tmp_path / "private"
    batch(project, "private", "fetched over ssh")
    remote = tmp_path / "private.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project), str(remote)], check=True)
    url = f"ssh://git.example{remote}"

    without = bw("create", "deployment", url)
    assert without.returncode == 3, without.stdout + without.stderr
    assert not used.exists()

    result = bw("create", "deployment", url, "--ssh", key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run " in result.stdout and "succeeded" in result.stdout
    assert "fetched over ssh" in bw("logs", "private", "job").stdout
    # this machine's git (ls-remote, reading bodywork.yaml) and the stage's runner
    assert len(used.read_text().splitlines()) >= 3
    for out in (result.stdout, result.stderr, bw("get", "deployment", "private").stdout):
        assert marker not in out
    for path in bw.state_dir.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


# -- --branch NAME of a branch only the remote has ---------------------------------------------


def test_a_branch_only_the_remote_has_deploys_from_there(tmp_path: Path, bw: Bodywork) -> None:
    work = tmp_path / "work"
    batch(work, "branchy", "the default branch")
    default = git(work, "branch", "--show-current")
    git(work, "switch", "-q", "-c", "feature")
    batch(work, "branchy", "the feature branch")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(work, "push", "-q", str(remote), default, "feature")
    git(remote, "symbolic-ref", "HEAD", f"refs/heads/{default}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True)
    assert git(clone, "branch", "--list", "feature") == ""  # only origin/feature

    result = bw("deploy", clone, "--branch", "feature")
    assert result.returncode == 0, result.stdout + result.stderr
    sha = git(clone, "rev-parse", "origin/feature")
    assert (
        f"warning: branch feature is not checked out here: deploying origin/feature at "
        f"{sha[:8]}, as of your last fetch (git fetch origin to deploy its newest commit)"
    ) in result.stderr
    assert bw("logs", "branchy", "job").stdout.strip() == "the feature branch"

    missing = bw("deploy", clone, "--branch", "nope")
    assert missing.returncode == 2
    assert "has no branch nope, here or on a remote as of the last fetch" in missing.stderr
    assert "(git fetch)" in missing.stderr and "commit your notebooks" not in missing.stderr


# -- a Bodywork 2.x file (version 1.0) ---------------------------------------------------------

V1_0 = """
version: "1.0"
project:
  name: classic-2
  docker_image: bodyworkml/bodywork-core:2.1
  DAG: job
stages:
  job:
    executable_module_path: job.py
    args: ["2.x"]
    cpu_request: 0.5
    memory_request_mb: 100
    batch:
      max_completion_time_seconds: 60
      retries: 0
logging:
  log_level: INFO
"""


def test_a_version_1_0_file_deploys_and_says_what_it_is(tmp_path: Path, bw: Bodywork) -> None:
    project = tmp_path / "classic"
    project.mkdir()
    (project / "job.py").write_text("import sys\nprint('hello from Bodywork', sys.argv[1])\n")
    write_yaml(project, V1_0)
    git_commit(project)

    checked = bw("validate", project)
    assert checked.returncode == 0, checked.stdout
    assert 'version: "1.0" is Bodywork 2.x\'s format, read as 1.1' in checked.stdout
    assert "is valid (version 1.0): pipeline 'classic-2'" in checked.stdout
    deployed = bw("deploy", project)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "hello from Bodywork 2.x" in bw("logs", "classic-2", "job").stdout.splitlines()

    write_yaml(project, V1_0.replace("project:", "pipeline:"))  # a 1.1 file labelled 1.0
    git_commit(project)
    refused = bw("deploy", project)
    assert refused.returncode == 2
    assert (
        "\"1.0\" calls its pipeline section 'project', but this file has 'pipeline'"
        in refused.stderr
    )
    assert 'set version: "1.1"' in refused.stderr
