"""Code from git at a pinned commit, credentials kept out of sight, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner_helpers import make_spec, run_runner, runner_env

TOKEN = "tok-s3cr3t-value"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _repo_with_two_commits(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    (repo / "pipeline").mkdir(parents=True)
    _git(repo, "init", "--quiet")
    job = repo / "pipeline" / "job.py"
    job.write_text("import os\nprint('version one', os.environ.get('BODYWORK_GIT_TOKEN'))\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "one")
    first = _git(repo, "rev-parse", "HEAD")
    job.write_text("print('version two')\n")
    _git(repo, "commit", "--quiet", "-am", "two")
    return repo, first


def test_the_pinned_commit_is_checked_out(tmp_path: Path) -> None:
    repo, first = _repo_with_two_commits(tmp_path)
    spec = make_spec(repo, "job.py", tmp_path, work_dir=str(tmp_path / "checkout"))
    spec["source"] = {"repo": repo.as_uri(), "commit": first, "project_dir": "pipeline"}
    result = run_runner(spec, tmp_path, env=runner_env(BODYWORK_GIT_TOKEN=TOKEN))

    assert result.returncode == 0, result.stderr
    assert result.one("code.ready")["commit"] == first
    assert "version one None" in result.stdout  # the stage never sees the token
    assert "version two" not in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    checkout = tmp_path / "checkout"
    assert _git(checkout, "rev-parse", "HEAD") == first
    assert _git(checkout, "rev-list", "--count", "HEAD") == "1"  # shallow


def test_a_temporary_checkout_is_removed(tmp_path: Path) -> None:
    repo, first = _repo_with_two_commits(tmp_path)
    spec = make_spec(repo, "job.py", tmp_path)
    spec["source"] = {"repo": repo.as_uri(), "commit": first, "project_dir": "pipeline"}
    result = run_runner(spec, tmp_path)

    assert result.returncode == 0, result.stderr
    assert not Path(result.one("code.ready")["path"]).exists()


def test_an_unreachable_repo_exits_3(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "job.py", tmp_path)
    url = f"https://x-user:{TOKEN}@127.0.0.1:9/nowhere.git"
    spec["source"] = {"repo": url, "commit": "a" * 40}
    result = run_runner(spec, tmp_path, env=runner_env(BODYWORK_GIT_TOKEN=TOKEN))

    assert result.returncode == 3, result.stderr
    failed = result.one("stage.failed")
    assert failed["reason"] == "unreachable"
    assert TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_commit_missing_from_the_repo_is_bad_input(tmp_path: Path) -> None:
    repo, _ = _repo_with_two_commits(tmp_path)
    spec = make_spec(repo, "job.py", tmp_path)
    spec["source"] = {"repo": repo.as_uri(), "commit": "b" * 40, "project_dir": "pipeline"}
    result = run_runner(spec, tmp_path)

    assert result.returncode == 2, result.stderr
    assert result.one("stage.failed")["reason"] == "bad_input"


def test_a_missing_stage_file_is_bad_input(tmp_path: Path) -> None:
    result = run_runner(make_spec(tmp_path, "missing.ipynb", tmp_path), tmp_path)

    assert result.returncode == 2
    failed = result.one("stage.failed")
    assert failed["reason"] == "bad_input" and "missing.ipynb" in failed["message"]


def test_an_invalid_spec_is_bad_input(tmp_path: Path) -> None:
    result = run_runner({"pipeline": "p", "kind": "batch"}, tmp_path)

    assert result.returncode == 2
    assert result.one("stage.failed")["reason"] == "bad_input"
    assert "Traceback" not in result.stderr


def test_the_spec_can_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('from env spec')\n")
    spec = make_spec(tmp_path, "hello.py", tmp_path)
    env = runner_env(BODYWORK_STAGE_SPEC=json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "bodywork_runner"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "from env spec" in done.stdout
