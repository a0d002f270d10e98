"""A failed install: one line naming the requirement and why, the right exit code, the log.

Real installs with this machine's settings (its package index), each as small as the
case allows: a package that does not exist, a pin with no wheel for this Python, a
package whose build fails, an index that does not answer, a line that is no requirement.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import time
from pathlib import Path

import pytest
from runner_helpers import make_spec, run_runner, runner_env

from bodywork_runner.install_failures import build_timed_out, explain

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
#: The stage timeout of the slow build: long enough for pip to make its build environment.
BUILD_TIMEOUT = 15


def _module(tmp: Path) -> Path:
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    (project / "job.py").write_text("print('never runs')\n")
    return project


def _failure(result_events: list[dict[str, object]]) -> dict[str, object]:
    failed = [e for e in result_events if e["event"] == "stage.failed"]
    assert len(failed) == 1, result_events
    return failed[0]


def _one_line(message: object) -> str:
    assert isinstance(message, str) and "\n" not in message, message
    assert "the installer's output is in the stage's log" in message
    return message


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_package_that_does_not_exist_is_bad_input_in_one_line(
    tmp_path: Path, installer: str
) -> None:
    project = _module(tmp_path)
    spec = make_spec(
        project, "job.py", tmp_path, requirements=["bodywork-no-such-package-x7q==1.0"]
    )
    env = runner_env(**({"BODYWORK_RUNNER_INSTALLER": "pip"} if installer == "pip" else {}))
    result = run_runner(spec, tmp_path, env=env, timeout=240)

    assert result.returncode == 2, result.stderr  # bad input: the engine never retries it
    failed = _failure(result.events)
    assert failed["reason"] == "bad_input"
    assert failed["requirement"] == "bodywork-no-such-package-x7q" + (
        "==1.0" if installer == "pip" else ""
    )
    message = _one_line(failed["message"])
    assert "bodywork-no-such-package-x7q" in message and "no such package" in message
    assert "stage.running" not in result.kinds
    # the installer's own words are in the log, and the environment is not left behind
    assert "bodywork-no-such-package-x7q" in result.stderr
    assert not any((tmp_path / "cache" / "envs").glob("*/bin"))


def test_a_pin_with_no_wheel_for_this_python_says_so(tmp_path: Path) -> None:
    """numpy 1.19.5 (Bodywork's image ran Python 3.9) has no wheel for this Python. With
    building from source turned off (PIP_ONLY_BINARY, as a user may), uv refuses at once."""
    project = _module(tmp_path)
    spec = make_spec(project, "job.py", tmp_path, requirements=["numpy==1.19.5"])
    result = run_runner(spec, tmp_path, env=runner_env(PIP_ONLY_BINARY="numpy"), timeout=120)

    assert result.returncode == 2, result.stderr
    failed = _failure(result.events)
    assert failed["reason"] == "bad_input" and failed["requirement"] == "numpy==1.19.5"
    message = _one_line(failed["message"])
    assert f"numpy==1.19.5 has no wheel for Python {PYTHON}" in message
    assert "python:" in message and "--python" in message  # the way out: the Python it was made for


def _broken_sdist(folder: Path) -> Path:
    """``brokenpkg-1.0.tar.gz``: a source distribution whose build always fails."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "brokenpkg-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: brokenpkg\nVersion: 1.0\n",
        "brokenpkg-1.0/setup.py": b"raise SystemExit('brokenpkg cannot be built here')\n",
    }
    with tarfile.open(folder / "brokenpkg-1.0.tar.gz", "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return folder


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_build_that_fails_names_the_package(tmp_path: Path, installer: str) -> None:
    """What a pin with no wheel for this Python does by default: the installer builds it
    from source, and the build fails (numpy 1.19.5 takes minutes to get there)."""
    links = _broken_sdist(tmp_path / "links")
    project = _module(tmp_path)
    spec = make_spec(project, "job.py", tmp_path, requirements=["brokenpkg==1.0"])
    extra = {"UV_FIND_LINKS": str(links), "PIP_FIND_LINKS": str(links)}
    if installer == "pip":
        extra["BODYWORK_RUNNER_INSTALLER"] = "pip"
    result = run_runner(spec, tmp_path, env=runner_env(**extra), timeout=240)

    assert result.returncode == 2, result.stderr
    failed = _failure(result.events)
    assert failed["reason"] == "bad_input" and failed["requirement"] == "brokenpkg==1.0"
    message = _one_line(failed["message"])
    assert f"brokenpkg==1.0 has no wheel for Python {PYTHON}" in message
    assert "building it from source failed" in message
    assert "brokenpkg cannot be built here" in result.stderr  # the build's own words: the log


def _slow_sdist(folder: Path, pid_file: Path) -> Path:
    """``slowpkg-1.0.tar.gz``: a source distribution whose build takes five minutes (as
    numpy 1.19's does on this Python); the build writes its pid to ``pid_file``. Static
    metadata (2.2), so the installer resolves it and then builds it, as it does numpy."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "slowpkg-1.0/PKG-INFO": b"Metadata-Version: 2.2\nName: slowpkg\nVersion: 1.0\n",
        "slowpkg-1.0/setup.py": (
            f"import os, time\nwith open({str(pid_file)!r}, 'w') as f:\n"
            "    f.write(str(os.getpid()))\ntime.sleep(300)\n"
        ).encode(),
    }
    with tarfile.open(folder / "slowpkg-1.0.tar.gz", "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return folder


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # exited, not yet reaped


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_build_that_outlives_the_timeout_is_stopped_and_named(
    tmp_path: Path, installer: str
) -> None:
    """The failing test project's numpy==1.19.1 builds for minutes, past its 60 s timeout:
    the runner stops the build at the timeout and says which package it was, as bad input
    (every retry would build it again), instead of a plain timeout that is retried."""
    pid_file = tmp_path / "build.pid"
    links = _slow_sdist(tmp_path / "links", pid_file)
    project = _module(tmp_path)
    spec = make_spec(
        project, "job.py", tmp_path, requirements=["slowpkg==1.0"], timeout_seconds=BUILD_TIMEOUT
    )
    extra = {"UV_FIND_LINKS": str(links), "PIP_FIND_LINKS": str(links)}
    if installer == "pip":
        extra["BODYWORK_RUNNER_INSTALLER"] = "pip"
    started = time.monotonic()
    result = run_runner(spec, tmp_path, env=runner_env(**extra), timeout=120)

    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 60  # not the build's five minutes
    failed = _failure(result.events)
    assert failed["reason"] == "bad_input" and failed["requirement"] == "slowpkg==1.0"
    message = _one_line(failed["message"])
    assert "slowpkg==1.0 was still being built from source" in message
    assert f"no wheel for Python {PYTHON}" in message and f"timeout ({BUILD_TIMEOUT}s)" in message
    assert "--python" in message
    assert "stage.running" not in result.kinds
    assert _gone(int(pid_file.read_text()))  # the build itself was stopped too


def test_an_index_that_does_not_answer_is_unreachable_and_may_be_retried(tmp_path: Path) -> None:
    project = _module(tmp_path)
    spec = make_spec(project, "job.py", tmp_path, requirements=["flask"])
    env = runner_env(UV_INDEX_URL="http://127.0.0.1:9/simple", UV_HTTP_RETRIES="0")
    result = run_runner(spec, tmp_path, env=env, timeout=120)

    assert result.returncode == 3, result.stderr
    failed = _failure(result.events)
    assert failed["reason"] == "unreachable"
    message = _one_line(failed["message"])
    assert "the package index could not be reached" in message and "127.0.0.1:9" in message


def test_a_line_that_is_no_requirement_is_bad_input(tmp_path: Path) -> None:
    project = _module(tmp_path)
    spec = make_spec(project, "job.py", tmp_path, requirements=["flask ~~ 2"])
    result = run_runner(spec, tmp_path, timeout=60)

    assert result.returncode == 2, result.stderr
    message = _one_line(_failure(result.events)["message"])
    assert "'flask ~~ 2' is not a requirement" in message


# -- the words, from outputs the installers really printed (too slow or rare to provoke) --

#: numpy==1.19.5 on Python 3.11 with uv: eight minutes of compiling, then this (abridged)
NUMPY_BUILD_UV = """\
Using Python 3.11.7 environment at: /cache/envs/478121fb
Resolved 1 package in 470ms
   Building numpy==1.19.5
error: Failed to build `numpy==1.19.5`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)

         [stderr]
         error: Command "gcc -Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall -fPIC" failed with exit status 1

hint: Build failures usually indicate a problem with the package or the build environment
"""

EXCLUDED_UV = """\
error: No solution found when resolving dependencies
  cause: Because there is no version of flask==3.0.0 and you require flask==3.0.0, we can conclude that your requirements are unsatisfiable.

hint: `flask` was filtered by `exclude-newer` to only include packages uploaded before 2022-06-02T00:00:00Z. The requested version, v3.0.0, was published at 2023-09-30T14:36:10.961Z. Consider using `exclude-newer-package` to override the cutoff for this package.
"""

PYTHON_UV = """\
error: No solution found when resolving dependencies
  cause: Because the current Python version (3.9.18) does not satisfy Python>=3.11 and numpy==2.4.0 depends on Python>=3.11, we can conclude that numpy==2.4.0 cannot be used.
         And because you require numpy==2.4.0, we can conclude that your requirements are unsatisfiable.
"""

PIP_NO_VERSION = """\
Looking in links: /opt/wheels
ERROR: Could not find a version that satisfies the requirement flask==99.0 (from versions: 0.1, 2.1.2, 3.1.2, 3.1.3)
ERROR: No matching distribution found for flask==99.0
"""


def test_the_words_for_outputs_seen_in_the_wild() -> None:
    build = explain(NUMPY_BUILD_UV, "uv", 1, "3.11")
    assert build.kind == "bad_input" and build.requirement == "numpy==1.19.5"
    assert "has no wheel for Python 3.11" in build.message

    excluded = explain(EXCLUDED_UV, "uv", 1, "3.11", "2022-06-02T00:00:00Z")
    assert excluded.kind == "bad_input"
    assert "v3.0.0 was published on 2023-09-30" in excluded.message
    assert "(2022-06-02)" in excluded.message and "--requirements-as-of" in excluded.message

    python = explain(PYTHON_UV, "uv", 1, "3.9")
    assert python.requirement == "numpy==2.4.0"
    assert "needs Python>=3.11 and the stage runs Python 3.9.18" in python.message

    no_version = explain(PIP_NO_VERSION, "pip", 1, "3.11")
    assert no_version.kind == "bad_input"
    assert (
        "no version on the package index matches (newest there: 2.1.2, 3.1.2, 3.1.3)"
        in no_version.message
    )

    archive = build_timed_out("/opt/links/numpy-1.19.1.zip", "3.11", 60)  # pip's words
    assert archive.requirement == "numpy==1.19.1" and "no wheel for Python 3.11" in archive.message
    own = build_timed_out("mypkg @ file:///src/mypkg", "3.11", 60)  # the project's own code
    assert "no wheel" not in own.message and "a longer timeout" in own.message

    unknown = explain("something odd\nerror: the disk is full\n", "uv", 2, "3.11")
    assert unknown.kind == "error" and "uv exited 2: error: the disk is full" in unknown.message
