"""Requirements through a whole local deploy: a failure that cannot succeed is not retried,
a Bodywork 1.1 project resolves as of its commit's date, ``--python`` reaches the stage.

Real deploys (supervisor, engine, runner) with real installs from this machine's index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.helpers import Bodywork, events, run_id_of
from tests.projects import write_yaml


def _commit(folder: Path, when: str) -> str:
    """Commit everything in ``folder`` as if it had been written at ``when``."""
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    git("init", "-q")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "test")
    git("add", "-A")
    git("commit", "-q", "-m", "as it was")
    return git("rev-parse", "HEAD")


def test_a_requirement_that_cannot_install_fails_once_in_one_line(
    tmp_path: Path, bw: Bodywork
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "job.py").write_text("print('never runs')\n")
    write_yaml(
        project,
        """
        version: "2.0"
        pipeline: {name: cannot-install}
        stages:
          job:
            path: job.py
            requirements: [bodywork-no-such-package-x7q==1.0]
            retries: {count: 3, backoff: 0.5}
        """,
    )
    result = bw("deploy", project)
    assert result.returncode != 0, result.stdout + result.stderr
    run_id = run_id_of(result)

    kinds = [e["type"] for e in events(bw, run_id) if e["stage"] == "job"]
    assert "stage.retrying" not in kinds  # it would fail the same way every time
    (failed,) = [e for e in events(bw, run_id) if e["type"] == "stage.failed"]
    assert failed["reason"] == "bad_input"
    message = str(failed["message"])
    assert "\n" not in message
    assert "bodywork-no-such-package-x7q: no such package on the package index" in message
    (stage,) = bw.store().stages(run_id)
    assert stage.attempt == 1
    # the deploy says it in one line, and where the installer's output is
    said = [line for line in result.stderr.splitlines() if line.startswith("error: job: ")]
    assert len(said) == 1 and "installing requirements failed: bodywork-no-such" in said[0]
    assert f"log: bodywork logs {run_id} job" in result.stderr
    log = bw("logs", run_id, "job").stdout
    assert "No solution found when resolving dependencies" in log  # uv's own words


BODYWORK_1_1 = """
version: "1.1"
pipeline:
  name: old-flask
  docker_image: bodyworkml/bodywork-core:latest
  DAG: probe
stages:
  probe:
    executable_module_path: probe.py
    requirements:
      - flask==2.1.2
    cpu_request: 0.5
    memory_request_mb: 100
    batch:
      max_completion_time_seconds: 120
      retries: 0
logging:
  log_level: INFO
"""


def test_a_bodywork_1_1_project_resolves_as_of_its_commit(tmp_path: Path, bw: Bodywork) -> None:
    """Bodywork's test project pins flask 2.1.2 and leaves werkzeug open: resolved today it
    gets werkzeug 3, which flask 2.1 cannot import; resolved as of its commit it works."""
    project = tmp_path / "old"
    project.mkdir()
    (project / "probe.py").write_text(
        "import flask, importlib.metadata as m\nprint('werkzeug', m.version('werkzeug'))\n"
    )
    write_yaml(project, BODYWORK_1_1)
    sha = _commit(project, "2022-06-01T12:00:00+00:00")

    result = bw("deploy", project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"warning: requirements are resolved as of 2022-06-01, the date of commit {sha[:8]} "
        "(a Bodywork 1.1 file: as when it was written): packages published later are left "
        "out - deploy with --requirements-as-of none to resolve them as of today"
    ) in result.stderr
    run_id = run_id_of(result)
    assert "werkzeug 2." in bw("logs", run_id, "probe").stdout
    (ready,) = [e for e in events(bw, run_id) if e["type"] == "runner.requirements.ready"]
    assert ready["as_of"] == "2022-06-02T00:00:00Z"

    today = bw("deploy", project, "--requirements-as-of", "none")
    assert today.returncode != 0  # what Bodywork's projects do without the date
    assert "requirements are resolved as of" not in today.stderr
    assert "ImportError" in bw("logs", run_id_of(today), "probe").stdout

    dated = bw("deploy", project, "--requirements-as-of", "2022-06-01")
    assert dated.returncode == 0, dated.stderr
    assert "resolved as of 2022-06-01 (--requirements-as-of)" in dated.stderr

    wrong = bw("deploy", project, "--requirements-as-of", "last-year")
    assert wrong.returncode == 2
    assert (
        "--requirements-as-of last-year: give commit, a date (2022-06-01) or none" in wrong.stderr
    )


def _python39() -> str | None:
    for candidate in (shutil.which("python3.9"), "/root/.pyenv/versions/3.9.18/bin/python3.9"):
        if candidate and Path(candidate).is_file():
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.stdout.strip() == "(3, 9)":
                return candidate
    return None


@pytest.mark.skipif(_python39() is None, reason="no Python 3.9 on this machine")
def test_python_for_a_1_1_file_reaches_its_stages(
    tmp_path: Path, bw: Bodywork, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = _python39()
    assert found is not None
    # the stages run on this machine: its python3.9 is where they look for one
    monkeypatch.setenv("PATH", f"{Path(found).parent}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "old"
    project.mkdir()
    (project / "probe.py").write_text(
        "import sys, flask\nprint('python', '%d.%d' % sys.version_info[:2])\n"
    )
    write_yaml(project, BODYWORK_1_1)
    _commit(project, "2022-06-01T12:00:00+00:00")

    result = bw("deploy", project, "--python", "3.9")
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)
    assert "python 3.9" in bw("logs", run_id, "probe").stdout
    (ready,) = [e for e in events(bw, run_id) if e["type"] == "runner.requirements.ready"]
    assert str(ready["python_version"]).startswith("3.9.")

    wrong = bw("deploy", project, "--python", "three")
    assert wrong.returncode == 2 and "--python three: give a Python version" in wrong.stderr
