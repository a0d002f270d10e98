"""Stage requirements: a cached environment per requirement set, built from a local wheel."""

from __future__ import annotations

from pathlib import Path

from runner_helpers import RunningRunner, make_spec, run_runner, runner_env, write_notebook


def _offline(wheels: Path, **extra: str) -> dict[str, str]:
    return runner_env(PIP_FIND_LINKS=str(wheels), PIP_NO_INDEX="1", **extra)


def test_a_notebook_gets_its_requirements_and_the_second_run_is_cached(
    tmp_path: Path, tiny_wheel_dir: Path
) -> None:
    project = tmp_path / "project"
    write_notebook(
        project / "uses.ipynb",
        "import sys, bwtiny, papermill\nprint('tiny', bwtiny.VALUE, sys.prefix)",
    )
    spec = make_spec(project, "uses.ipynb", tmp_path, requirements=["bwtiny==0.1.0"])

    first = run_runner(spec, tmp_path, env=_offline(tiny_wheel_dir))
    assert first.returncode == 0, first.stdout + first.stderr
    ready = first.one("requirements.ready")
    assert ready["cached"] is False
    env_dir = Path(ready["python"]).parent.parent
    assert env_dir.parent == tmp_path / "cache" / "envs"
    assert f"tiny tiny-42 {env_dir}" in first.stdout  # the kernel ran in the stage env

    second = run_runner(spec, tmp_path, env=_offline(tiny_wheel_dir))
    assert second.returncode == 0, second.stderr
    again = second.one("requirements.ready")
    assert again["cached"] is True and again["seconds"] < 1
    assert again["python"] == ready["python"]


def test_a_requirements_file_with_pip(tmp_path: Path, tiny_wheel_dir: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("# the stage's needs\nbwtiny\n")
    (project / "job.py").write_text("import bwtiny\nprint('module sees', bwtiny.VALUE)\n")
    spec = make_spec(project, "job.py", tmp_path, requirements_file="requirements.txt")
    env = _offline(tiny_wheel_dir, BODYWORK_RUNNER_INSTALLER="pip")
    result = run_runner(spec, tmp_path, env=env, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.one("requirements.ready")["cached"] is False
    assert "module sees tiny-42" in result.stdout


def test_a_missing_requirements_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print('never')\n")
    spec = make_spec(tmp_path, "job.py", tmp_path, requirements_file="nope.txt")
    result = run_runner(spec, tmp_path)

    assert result.returncode == 2
    assert result.one("stage.failed")["reason"] == "bad_input"


def test_two_stages_with_the_same_requirements_build_one_environment(
    tmp_path: Path, tiny_wheel_dir: Path, background: list
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "job.py").write_text("import bwtiny\nprint('ok', bwtiny.VALUE)\n")
    spec = make_spec(project, "job.py", tmp_path, requirements=["bwtiny"])
    runners = [RunningRunner(spec, tmp_path, env=_offline(tiny_wheel_dir)) for _ in range(2)]
    background.extend(runners)

    assert [runner.finish(timeout=120) for runner in runners] == [0, 0]
    cached = sorted(
        e["cached"] for r in runners for e in r.events if e["event"] == "requirements.ready"
    )
    assert cached == [False, True]
