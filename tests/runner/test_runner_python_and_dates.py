"""A stage's Python (``python: "3.9"``) and requirements resolved as of a date.

Real installs from the registry this machine reaches (its settings), and the Pythons
this machine has: a test that needs Python 3.9 is skipped where there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from runner_helpers import make_spec, run_runner, runner_env, write_notebook

#: Bodywork's test projects: flask pinned, werkzeug left open (werkzeug 3 breaks flask 2.1)
FLASK_PROBE = (
    "import flask, werkzeug, importlib.metadata as m\nprint('werkzeug', m.version('werkzeug'))\n"
)


def _python39_dir() -> Path | None:
    for candidate in (shutil.which("python3.9"), "/root/.pyenv/versions/3.9.18/bin/python3.9"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.stdout.strip() == "(3, 9)":
                return Path(candidate).parent
    return None


PY39 = _python39_dir()
needs_39 = pytest.mark.skipif(PY39 is None, reason="no Python 3.9 on this machine")


def _with_39(**extra: str) -> dict[str, str]:
    assert PY39 is not None
    return runner_env(PATH=f"{PY39}{os.pathsep}{os.environ['PATH']}", **extra)


def test_requirements_as_of_a_date_resolve_as_they_did_then(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text(FLASK_PROBE)
    spec = make_spec(
        project,
        "job.py",
        tmp_path,
        requirements=["flask==2.1.2"],
        requirements_as_of="2022-06-02T00:00:00Z",
    )
    then = run_runner(spec, tmp_path, timeout=180)
    assert then.returncode == 0, then.stderr
    assert "werkzeug 2." in then.stdout  # what flask 2.1.2 was used with in 2022
    ready = then.one("requirements.ready")
    assert ready["as_of"] == "2022-06-02T00:00:00Z"

    now = run_runner({**spec, "requirements_as_of": None}, tmp_path, timeout=180)
    assert now.returncode != 0  # today's werkzeug 3 is what broke Bodywork's test projects
    assert "ImportError" in now.stderr or "ImportError" in now.stdout
    assert now.one("requirements.ready")["python"] != ready["python"]  # not the same env


def test_a_pin_published_after_the_date_says_so(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text("print('never')\n")
    spec = make_spec(
        project,
        "job.py",
        tmp_path,
        requirements=["flask==3.0.0"],
        requirements_as_of="2022-06-02T00:00:00Z",
    )
    result = run_runner(spec, tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    failed = result.one("stage.failed")
    assert failed["reason"] == "bad_input"
    assert "v3.0.0 was published on 2023-09-30, after the date" in failed["message"]
    assert "(2022-06-02)" in failed["message"]


@needs_39
def test_a_module_on_python_39_with_its_requirements(tmp_path: Path, tiny_wheel_dir: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text(
        "import sys, bwtiny\nprint('on', '%d.%d' % sys.version_info[:2], 'with', bwtiny.VALUE)\n"
    )
    spec = make_spec(project, "job.py", tmp_path, requirements=["bwtiny"], python="3.9")
    env = _with_39(UV_FIND_LINKS=str(tiny_wheel_dir), UV_NO_INDEX="1")
    result = run_runner(spec, tmp_path, env=env, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "on 3.9 with tiny-42" in result.stdout
    ready = result.one("requirements.ready")
    assert ready["python_version"].startswith("3.9.") and ready["cached"] is False
    # the runner's own packages (built for its Python) are not linked into a 3.9 env
    env_dir = Path(ready["python"]).parent.parent
    assert not list(env_dir.glob("lib/python3.9/site-packages/_bodywork_runner_packages.pth"))

    again = run_runner(spec, tmp_path, env=env, timeout=60)
    assert again.returncode == 0 and again.one("requirements.ready")["cached"] is True


@needs_39
def test_a_module_without_requirements_runs_on_the_interpreter_itself(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text("import sys\nprint('on', '%d.%d' % sys.version_info[:2])\n")
    spec = make_spec(project, "job.py", tmp_path, python="3.9")
    result = run_runner(spec, tmp_path, env=_with_39(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "on 3.9" in result.stdout
    assert result.one("requirements.ready")["cached"] is True


@needs_39
def test_a_notebook_on_python_39_gets_its_own_kernel(tmp_path: Path) -> None:
    """papermill stays in the runner; the kernel runs on 3.9 with ipykernel installed
    there (from the registry, as of a date so the versions are the ones 3.9 had then)."""
    project = tmp_path / "project"
    write_notebook(
        project / "nb.ipynb", "import sys\nprint('kernel on', '%d.%d' % sys.version_info[:2])"
    )
    spec = make_spec(
        project, "nb.ipynb", tmp_path, python="3.9", requirements_as_of="2024-06-01T00:00:00Z"
    )
    result = run_runner(spec, tmp_path, env=_with_39(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kernel on 3.9" in result.stdout
    assert result.one("runner.started")["python"] == ".".join(map(str, sys.version_info[:3]))


@needs_39
def test_a_notebook_service_cannot_use_another_python(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "svc.ipynb", "def predict(x):\n    return x")
    spec = make_spec(
        project, "svc.ipynb", tmp_path, kind="service", service={"port": 1}, python="3.9"
    )
    result = run_runner(spec, tmp_path, env=_with_39(), timeout=60)
    assert result.returncode == 2
    message = result.one("stage.failed")["message"]
    assert "a notebook service runs in the runner's own Python" in message
    assert "cannot use Python 3.9" in message


def test_a_python_that_cannot_be_had_names_the_version_and_the_way(tmp_path: Path) -> None:
    """No Python 3.7 on PATH here, and uv cannot download one (GitHub is out of reach):
    bad input, so not retried, saying what to install."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text("print('never')\n")
    spec = make_spec(project, "job.py", tmp_path, python="3.7")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if "3.7" not in p)
    result = run_runner(spec, tmp_path, env=runner_env(PATH=path, UV_HTTP_RETRIES="0"), timeout=120)
    if result.returncode == 0:
        pytest.skip("this machine has (or could download) Python 3.7")
    assert result.returncode == 2, result.stderr
    message = result.one("stage.failed")["message"]
    assert "the stage needs Python 3.7" in message
    assert "python3.7 on PATH" in message and "uv python install 3.7" in message


def test_the_runners_own_python_is_no_change(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text("import sys\nprint(sys.executable)\n")
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    result = run_runner(make_spec(project, "job.py", tmp_path, python=own), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.one("requirements.ready")["python"] == sys.executable
