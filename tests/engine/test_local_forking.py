"""Batch notebook runners forked from a warm server (backends/local/forking.py): real
server, real runners and kernels, a real git repository over file://."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bodywork_jupyter.backends.local import forking
from bodywork_jupyter.backends.local.process import RunnerProcess
from bodywork_jupyter.backends.local.stage_env import stage_environment
from tests.runner.runner_helpers import write_notebook

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfds (Linux)")


def _repo(tmp_path: Path, *cells: str) -> tuple[str, str]:
    repo = tmp_path / "repo"
    write_notebook(repo / "nb" / "stage.ipynb", *cells)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return f"file://{repo}", sha.stdout.strip()


def _spec(tmp_path: Path, repo: str, commit: str, name: str, **fields: object) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    spec = {
        "pipeline": "demo",
        "stage": name,
        "kind": "batch",
        "file": "nb/stage.ipynb",
        "source": {"repo": repo, "commit": commit},
        "run_id": "run-1",
        "work_dir": str(folder / "code"),
        "artifacts_dir": str(folder),
        "cache_dir": str(tmp_path / "cache"),
        **fields,
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _events(process: RunnerProcess) -> list[str]:
    return [str(event.get("event")) for event in process.events]


async def _run(spec: Path, env: dict[str, str], tmp_path: Path) -> RunnerProcess:
    process = RunnerProcess(spec, spec.parent / "log.txt", env, tmp_path)
    await process.start()
    await process.wait()
    return process


def test_stages_fork_from_one_server_each_its_own_environment_and_kernel(tmp_path: Path) -> None:
    repo, commit = _repo(
        tmp_path,
        "import os, sys\n"
        "print('SECRET', os.environ.get('MY_SECRET'), 'CWD', os.getcwd())\n"
        "parent = f'/proc/{os.getppid()}/'\n"
        "print('KERNEL PARENT', open(parent + 'cmdline').read().split(chr(0))[2])\n"
        "print('PARENT HAS SECRET', 'MY_SECRET' in open(parent + 'environ', errors='replace').read())",
    )

    async def main() -> tuple[list[RunnerProcess], list[str]]:
        processes = []
        for index in (1, 2):
            env = stage_environment(os.environ, {"MY_SECRET": f"s{index}"})
            spec = _spec(tmp_path, repo, commit, f"stage{index}")
            processes.append(await _run(spec, env, tmp_path))
        servers = [f.result() for f in forking._servers.values() if f.done() and f.result()]
        environs = [
            Path(f"/proc/{s.process.pid}/environ").read_text(errors="replace")
            for s in servers
            if s is not None
        ]
        return processes, environs

    processes, server_environs = asyncio.run(main())
    for index, process in enumerate(processes, start=1):
        assert process.returncode == 0, process.log_path.read_text()
        assert isinstance(process._proc, forking.ForkedProcess)
        assert "stage.succeeded" in _events(process)
        log = process.log_path.read_text()
        folder = tmp_path / f"stage{index}" / "code" / "nb"
        assert f"SECRET s{index} CWD {folder}" in log
        # its kernel was forked too, from a server that never saw a secret
        assert "KERNEL PARENT bodywork_runner.kernelserver" in log
        assert "PARENT HAS SECRET False" in log
        assert (tmp_path / f"stage{index}" / f"stage{index}.ipynb").is_file()
    # no stage's secret is in the server's memory: it started with none
    assert server_environs and not any("MY_SECRET" in text for text in server_environs)


def test_a_failing_notebook_and_a_stop_end_a_forked_runner_as_a_cold_one(tmp_path: Path) -> None:
    repo, commit = _repo(tmp_path, "import time\ntime.sleep(float(__import__('os').environ['T']))")

    async def main() -> tuple[RunnerProcess, RunnerProcess]:
        env = stage_environment(os.environ, {})
        failing = await _run(
            _spec(tmp_path, repo, commit, "failing"), {**env, "T": "nope"}, tmp_path
        )
        spec = _spec(tmp_path, repo, commit, "stopped")
        stopped = RunnerProcess(spec, spec.parent / "log.txt", {**env, "T": "60"}, tmp_path)
        await stopped.start()
        await stopped.wait_for_event("cell.finished", "stage.running")
        await asyncio.sleep(1.0)
        await stopped.stop(grace_seconds=20)
        return failing, stopped

    failing, stopped = asyncio.run(main())
    assert isinstance(failing._proc, forking.ForkedProcess)
    assert failing.returncode == 1
    failed = failing.last_event("stage.failed")
    assert failed is not None and failed["ename"] == "ValueError"
    assert stopped.returncode in (1, -signal.SIGKILL)
    last = stopped.last_event("stage.failed")
    assert last is not None and last["reason"] == "terminated"


def test_a_stage_with_requirements_gets_a_kernel_of_its_environment(tmp_path: Path) -> None:
    repo, commit = _repo(
        tmp_path,
        "import os, sys, six\n"
        "print('KERNEL ON', sys.executable)\n"
        "print('KERNEL PARENT', open(f'/proc/{os.getppid()}/cmdline').read().split(chr(0))[2])",
    )
    spec = _spec(tmp_path, repo, commit, "withreqs", requirements=["six"])

    async def main() -> RunnerProcess:
        return await _run(spec, stage_environment(os.environ, {}), tmp_path)

    process = asyncio.run(main())
    log = process.log_path.read_text()
    assert process.returncode == 0, log
    assert isinstance(process._proc, forking.ForkedProcess)
    ready = process.last_event("requirements.ready")
    assert ready is not None and ready.get("python")
    # the kernel runs on the stage environment's interpreter: a cold kernel of its own
    assert f"KERNEL ON {ready['python']}" in log
    assert "KERNEL PARENT bodywork_runner.kernelserver" not in log


def test_services_and_the_switch_start_cold(tmp_path: Path) -> None:
    repo, commit = _repo(tmp_path, "x = 1")
    env = stage_environment(os.environ, {})
    batch = _spec(tmp_path, repo, commit, "batch")
    service = _spec(tmp_path, repo, commit, "service", kind="service")
    assert forking.forkable(batch, env)
    assert not forking.forkable(service, env)
    assert not forking.forkable(batch, {**env, forking.SWITCH_ENV: "0"})

    async def main() -> RunnerProcess:
        return await _run(batch, {**env, forking.SWITCH_ENV: "0"}, tmp_path)

    cold = asyncio.run(main())
    assert cold.returncode == 0
    assert not isinstance(cold._proc, forking.ForkedProcess)
