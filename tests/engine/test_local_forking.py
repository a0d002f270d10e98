"""Batch notebook runners forked from a warm server (backends/local/forking.py): real
server, real runners and kernels, a real git repository over file://."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
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


def _cmdline(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split(chr(0))


def test_stages_with_requirements_continue_in_a_warm_server_of_their_environment(
    tmp_path: Path,
) -> None:
    """Past its requirements, a stage runs papermill and its kernel on its environment's
    interpreter: forked from that interpreter's servers (one for both stages), which
    never saw a stage's secret, not started cold."""
    repo, commit = _repo(
        tmp_path,
        "import os, sys, six\n"
        "print('KERNEL ON', sys.executable)\n"
        "print('KERNEL PARENT', open(f'/proc/{os.getppid()}/cmdline').read().split(chr(0)))\n"
        "runner = os.environ['JPY_PARENT_PID']\n"
        "print('RUNNER', runner, open(f'/proc/{runner}/cmdline').read().split(chr(0)))\n"
        "print('SECRET', os.environ['MY_SECRET'])",
    )

    async def main() -> list[RunnerProcess]:
        processes = []
        for index in (1, 2):
            env = stage_environment(os.environ, {"MY_SECRET": f"s{index}"})
            spec = _spec(tmp_path, repo, commit, f"withreqs{index}", requirements=["six"])
            processes.append(await _run(spec, env, tmp_path))
        return processes

    runners = []
    for index, process in enumerate(asyncio.run(main()), start=1):
        log = process.log_path.read_text()
        assert process.returncode == 0, log
        assert isinstance(process._proc, forking.ForkedProcess)
        ready = process.last_event("requirements.ready")
        assert ready is not None and ready.get("python")
        python = ready["python"]
        assert f"KERNEL ON {python}" in log and f"SECRET s{index}" in log
        kernel_parent = f"KERNEL PARENT {[python, '-m', 'bodywork_runner.kernelserver']}"[:-1]
        assert kernel_parent in log, log
        line = next(x for x in log.splitlines() if x.startswith("RUNNER "))
        runner_pid, runner_cmdline = line.split(" ", 2)[1:]
        assert runner_cmdline.startswith(f"['{python}', '-m', 'bodywork_runner.forkserver'")
        assert runner_cmdline.endswith("'--env', '']")
        runners.append(runner_pid)
        assert _events(process).count("stage.running") == 1  # one runner's events, once
    assert runners[0] != runners[1]


def test_a_continued_stage_stops_and_dies_with_its_runner(tmp_path: Path) -> None:
    """A stop reaches the continuation (the stage fails as stopped, its kernel ends);
    the runner killed, the continuation and its kernel are killed with it."""
    repo, commit = _repo(
        tmp_path,
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['PIDS']).write_text(f\"{os.environ['JPY_PARENT_PID']} "
        '{os.getpid()}")\n'
        "time.sleep(60)",
    )

    async def main() -> tuple[RunnerProcess, list[int], RunnerProcess, list[int]]:
        results: list[object] = []
        for name in ("stopped", "killed"):
            pids = tmp_path / f"{name}.pids"
            env = {**stage_environment(os.environ, {}), "PIDS": str(pids)}
            spec = _spec(tmp_path, repo, commit, name, requirements=["six"])
            process = RunnerProcess(spec, spec.parent / "log.txt", env, tmp_path)
            await process.start()
            for _ in range(600):
                if pids.is_file() and pids.read_text():
                    break
                await asyncio.sleep(0.05)
            continued = [int(pid) for pid in pids.read_text().split()]
            if name == "stopped":
                await process.stop(grace_seconds=20)
            else:
                assert process._proc is not None
                process._proc.send_signal(signal.SIGKILL)
                await process.wait()
            results += [process, continued]
        return results  # type: ignore[return-value]

    stopped, stopped_pids, killed, killed_pids = asyncio.run(main())
    assert stopped.returncode == 1, stopped.log_path.read_text()
    last = stopped.last_event("stage.failed")
    assert last is not None and last["reason"] == "terminated"
    assert killed.returncode == -signal.SIGKILL
    for pid in [*stopped_pids, *killed_pids]:  # the continuation, then its kernel
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), _cmdline(pid)


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
