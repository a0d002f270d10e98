"""The environment cache: keyed by everything that changes the result; listed and cleared.

Offline builds from the session's tiny wheel where the index does not matter; the
registry (this machine's settings) where it does: resolving as of a date.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner_helpers import RunningRunner, make_spec, run_runner, runner_env

from bodywork_runner import env_cache
from bodywork_runner.environment import installer_settings


def _offline(wheels: Path, **extra: str) -> dict[str, str]:
    return runner_env(UV_FIND_LINKS=str(wheels), UV_NO_INDEX="1", PIP_NO_INDEX="1", **extra)


def _project(tmp: Path, code: str = "import bwtiny\nprint('tiny', bwtiny.VALUE)\n") -> Path:
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    (project / "job.py").write_text(code)
    return project


def _index(folder: Path, wheels: Path) -> str:
    """A package index on disk (the simple API, as file:// pages) holding the tiny wheel."""
    (folder / "bwtiny").mkdir(parents=True)
    links = []
    for wheel in wheels.glob("*.whl"):
        (folder / "bwtiny" / wheel.name).write_bytes(wheel.read_bytes())
        links.append(f'<a href="{wheel.name}">{wheel.name}</a>')
    (folder / "bwtiny" / "index.html").write_text(
        "<html><body>" + "".join(links) + "</body></html>"
    )
    return folder.as_uri()


def test_the_key_changes_with_the_index_and_not_with_a_timeout(
    tmp_path: Path, tiny_wheel_dir: Path
) -> None:
    spec = make_spec(_project(tmp_path), "job.py", tmp_path, requirements=["bwtiny"])
    index_a = _index(tmp_path / "index-a", tiny_wheel_dir)
    index_b = _index(tmp_path / "index-b", tiny_wheel_dir)

    first = run_runner(spec, tmp_path, env=runner_env(UV_INDEX_URL=index_a))
    assert first.returncode == 0, first.stderr
    built = first.one("requirements.ready")
    assert built["cached"] is False

    # another index may hold another bwtiny: another environment
    other = run_runner(spec, tmp_path, env=runner_env(UV_INDEX_URL=index_b))
    assert other.returncode == 0, other.stderr
    assert other.one("requirements.ready")["cached"] is False
    assert other.one("requirements.ready")["python"] != built["python"]

    # a timeout, a cache folder or a password changes nothing that gets installed
    same = run_runner(
        spec,
        tmp_path,
        env=runner_env(
            UV_INDEX_URL=index_a,
            UV_HTTP_TIMEOUT="300",
            UV_CACHE_DIR=str(tmp_path / "uv-cache"),
            UV_INDEX_PASSWORD="s3cret-value",
        ),
    )
    assert same.returncode == 0, same.stderr
    assert same.one("requirements.ready")["cached"] is True
    assert same.one("requirements.ready")["python"] == built["python"]
    marker = Path(built["python"]).parent.parent / ".bodywork-complete"
    assert json.loads(marker.read_text())["settings"]["UV_INDEX_URL"] == index_a


def test_credentials_in_an_index_url_are_kept_out_of_the_cache() -> None:
    settings = installer_settings(
        {
            "UV_INDEX_URL": "https://me:tok3n-value@pkgs.example/simple",
            "UV_HTTP_TIMEOUT": "30",
            "PIP_DEFAULT_TIMEOUT": "180",
            "PIP_EXTRA_INDEX_URL": "https://other.example/simple",
            "UV_INDEX_PASSWORD": "pw-value",
            "HOME": "/root",
        }
    )
    assert settings == {
        "PIP_EXTRA_INDEX_URL": "https://other.example/simple",
        "UV_INDEX_URL": "https://***@pkgs.example/simple",
    }


def test_the_installer_is_part_of_the_key(tmp_path: Path, tiny_wheel_dir: Path) -> None:
    spec = make_spec(_project(tmp_path), "job.py", tmp_path, requirements=["bwtiny"])
    # nothing but the installer may write bytecode: the stage's own import does not
    no_pyc = {"PYTHONDONTWRITEBYTECODE": "1"}
    with_uv = run_runner(spec, tmp_path, env=_offline(tiny_wheel_dir, **no_pyc))
    with_pip = run_runner(
        spec,
        tmp_path,
        env=_offline(
            tiny_wheel_dir,
            BODYWORK_RUNNER_INSTALLER="pip",
            PIP_FIND_LINKS=str(tiny_wheel_dir),
            **no_pyc,
        ),
        timeout=180,
    )
    assert with_uv.returncode == 0 and with_pip.returncode == 0, with_pip.stderr
    assert with_pip.one("requirements.ready")["cached"] is False
    pythons = [run.one("requirements.ready")["python"] for run in (with_uv, with_pip)]
    assert pythons[0] != pythons[1]
    # either installer leaves the environment compiled, so no later stage compiles it
    for python in pythons:
        env_dir = Path(python).parent.parent
        assert list(env_dir.glob("lib/python*/site-packages/bwtiny/__pycache__/*.pyc")), python


def test_list_and_clear_keep_what_a_running_stage_uses(
    tmp_path: Path, tiny_wheel_dir: Path, background: list[RunningRunner]
) -> None:
    project = _project(tmp_path)
    (project / "wait.py").write_text(
        "import bwtiny, pathlib, time\n"
        "pathlib.Path('started').write_text('yes')\n"
        "while not pathlib.Path('go').exists():\n    time.sleep(0.05)\n"
    )
    done = make_spec(project, "job.py", tmp_path, requirements=["bwtiny"])
    assert run_runner(done, tmp_path, env=_offline(tiny_wheel_dir)).returncode == 0
    waiting = make_spec(project, "wait.py", tmp_path, requirements=["bwtiny==0.1.0"])
    runner = RunningRunner(waiting, tmp_path, env=_offline(tiny_wheel_dir))
    background.append(runner)
    runner.wait_for("stage.running", timeout=120)

    cache = tmp_path / "cache"
    listed = env_cache.list_environments(cache)
    assert len(listed) == 2 and all(e.complete for e in listed)
    assert sorted(e.in_use for e in listed) == [False, True]
    assert all(e.size_bytes > 0 for e in listed)
    in_use = next(e for e in listed if e.in_use)
    assert in_use.about["requirements"] == ["bwtiny==0.1.0"]

    cleared = env_cache.clear(cache)
    assert [e.key for e in cleared.in_use] == [in_use.key]
    assert len(cleared.removed) == 1 and cleared.freed_bytes > 0
    assert [e.key for e in env_cache.list_environments(cache)] == [in_use.key]

    (project / "go").write_text("now")
    assert runner.finish(timeout=60) == 0, runner.log()
    assert [e.key for e in env_cache.clear(cache).removed] == [in_use.key]
    assert env_cache.list_environments(cache) == []
    assert list((cache / "envs").iterdir()) == []  # no lock files left behind either

    # and the next stage builds it again
    again = run_runner(done, tmp_path, env=_offline(tiny_wheel_dir))
    assert again.returncode == 0 and again.one("requirements.ready")["cached"] is False


def test_bodywork_cache_list_and_clear(tmp_path: Path, tiny_wheel_dir: Path) -> None:
    spec = make_spec(_project(tmp_path), "job.py", tmp_path, requirements=["bwtiny"])
    assert run_runner(spec, tmp_path, env=_offline(tiny_wheel_dir)).returncode == 0
    cache = tmp_path / "cache"

    def bodywork(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", "cache", *args, "--cache-dir", str(cache)],
            capture_output=True,
            text=True,
            env=runner_env(NO_COLOR="1", BODYWORK_STATE_DIR=str(tmp_path / "state")),
            check=False,
        )

    listed = bodywork("list")
    assert listed.returncode == 0, listed.stderr
    assert f"{cache}: 1 environment, " in listed.stdout
    assert "bwtiny" in listed.stdout and "just now" in listed.stdout
    as_json = json.loads(bodywork("list", "--json").stdout)
    assert [e["requirements"] for e in as_json] == [["bwtiny"]]

    missing = bodywork("clear", "ffff0000")
    assert missing.returncode == 2 and "no environment" in missing.stderr

    cleared = bodywork("clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "removed 1 environment (" in cleared.stdout
    assert "0 environments" in bodywork("list").stdout


def test_the_local_targets_cache_is_the_default(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "cache" / "envs").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "cache", "list"],
        capture_output=True,
        text=True,
        env=runner_env(NO_COLOR="1", BODYWORK_STATE_DIR=str(state)),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{state / 'cache'}: 0 environments")
