"""Kernels forked from the kernel server (bodywork_runner/kernelserver.py): a real server,
real kernels, jupyter_client's own kernel manager and client talking to them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bodywork_runner import notebook
from bodywork_runner.kernelserver import SERVER_ENV, SWITCH_ENV, ForkedKernel

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfds (Linux)")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = str(tmp_path / "kernels")
    process = subprocess.Popen(
        [sys.executable, "-m", "bodywork_runner.kernelserver", path], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"  # listening, imports done
    monkeypatch.setenv(SERVER_ENV, path)
    monkeypatch.setenv("SERVER_TEST_SECRET", "s3cr3t")  # a stage's secret, after the server
    yield path
    process.kill()
    process.wait()
    process.stdout.close()


async def _kernel(cwd: Path) -> tuple[Any, Any]:
    km = notebook._ipc_kernel_manager(cwd / "kernel.log")(kernel_name="python3")
    await km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=30)
    return km, kc


async def _run(kc: Any, code: str) -> str:
    out: list[str] = []

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    await kc.execute_interactive(code, output_hook=collect, timeout=30)
    return "".join(out)


REPORT = (
    "import json, os, sys\n"
    "print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(),"
    " 'env': dict(os.environ), 'path0': sys.path[0]}))"
)


def test_a_forked_kernel_is_a_stage_kernel_of_its_own(server: str, tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, Any], Any, str, str]:
        with notebook._own_kernelspec(sys.executable):
            km, kc = await _kernel(tmp_path)
            try:
                report = json.loads(await _run(kc, REPORT))
                second = await _run(kc, "print(21 * 2)")
                process = km.provisioner.process
                with pytest.raises(subprocess.TimeoutExpired):
                    process.wait(timeout=0.05)
            finally:
                kc.stop_channels()
                await km.shutdown_kernel()
            return report, process, second, (tmp_path / "kernel.log").read_text()

    report, process, second, kernel_log = asyncio.run(main())
    assert isinstance(process, ForkedKernel) and report["pid"] == process.pid
    server_pid = report["ppid"]
    assert "bodywork_runner.kernelserver" in Path(f"/proc/{server_pid}/cmdline").read_text()
    assert report["cwd"] == str(tmp_path)
    env = report["env"]
    assert env["SERVER_TEST_SECRET"] == "s3cr3t" and SERVER_ENV not in env
    assert env["JPY_PARENT_PID"] == str(os.getpid())
    # the server started before the secret existed, and its memory has none of it
    assert "s3cr3t" not in Path(f"/proc/{server_pid}/environ").read_text(errors="replace")
    assert second == "42\n"
    # ended when asked (no kill after the shutdown wait), with its exit code
    assert process.returncode == 0
    assert "ipython kernel" not in kernel_log and "Debugger warning" not in kernel_log


def test_the_switch_and_another_kernel_start_a_cold_kernel(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SWITCH_ENV, "0")

    async def main() -> tuple[dict[str, Any], Any]:
        with notebook._own_kernelspec(sys.executable):
            km, kc = await _kernel(tmp_path)
            try:
                return json.loads(await _run(kc, REPORT)), km.provisioner.process
            finally:
                kc.stop_channels()
                await km.shutdown_kernel()

    report, process = asyncio.run(main())
    assert not isinstance(process, ForkedKernel)
    assert report["ppid"] == os.getpid()


def test_a_cold_kernel_starts_with_our_launcher_and_its_folder_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bodywork_runner.kernel_launcher: ipykernel's kernel, ended as a forked one ends
    (control thread first); the working folder importable as under ipykernel_launcher."""
    monkeypatch.setenv(SWITCH_ENV, "0")
    (tmp_path / "helper_of_the_notebook.py").write_text("VALUE = 'next to it'\n")

    async def main() -> tuple[str, Any]:
        with notebook._own_kernelspec(sys.executable):
            km, kc = await _kernel(tmp_path)
            try:
                seen = await _run(
                    kc,
                    "import sys, helper_of_the_notebook as h\n"
                    "print(open('/proc/self/cmdline').read().split(chr(0))[1:3], h.VALUE)",
                )
            finally:
                kc.stop_channels()
            process = km.provisioner.process
            await km.shutdown_kernel()
            return seen, process

    seen, process = asyncio.run(main())
    assert not isinstance(process, ForkedKernel)
    assert seen == "['-m', 'bodywork_runner.kernel_launcher'] next to it\n"
    assert process.returncode == 0  # it ended as asked, not killed


def test_interrupt_kill_and_a_runner_hanging_up_end_forked_kernels(
    server: str, tmp_path: Path
) -> None:
    async def main() -> tuple[str, int | None, int]:
        with notebook._own_kernelspec(sys.executable):
            km, kc = await _kernel(tmp_path)
            kc.execute(
                "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
                "    print('interrupted')"
            )
            await asyncio.sleep(0.5)
            await km.interrupt_kernel()
            interrupted = ""
            deadline = time.monotonic() + 20
            while "interrupted" not in interrupted and time.monotonic() < deadline:
                msg = await kc.get_iopub_msg(timeout=20)
                if msg["msg_type"] == "stream":
                    interrupted += msg["content"]["text"]
            kc.stop_channels()
            killed = km.provisioner.process
            await km.shutdown_kernel(now=True)  # kills it
            # a kernel whose runner is gone: the server kills it
            other = ForkedKernel.start(
                server,
                ["-f", str(tmp_path / "other.json")],
                dict(os.environ),
                str(tmp_path),
                [1, 2],
            )
            other._connection.close()  # the runner's end, as when it dies
            deadline = time.monotonic() + 10
            while not _gone(other.pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return interrupted, killed.returncode, other.pid

    interrupted, returncode, orphan = asyncio.run(main())
    assert interrupted == "interrupted\n"
    assert returncode == -signal.SIGKILL
    assert _gone(orphan), "the kernel outlived its runner"


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "cold"])
def test_a_stage_kernel_keeps_no_ipython_history(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    # parallel stages would all lock one SQLite file as they start and end
    ipython_dir = tmp_path / "ipython"
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    if not forked:
        monkeypatch.setenv(SWITCH_ENV, "0")

    async def main() -> tuple[str, Any]:
        with notebook._own_kernelspec(sys.executable):
            km, kc = await _kernel(tmp_path)
            try:
                await _run(kc, "x = 6 * 7")
                seen = await _run(kc, "print(get_ipython().history_manager.enabled, In[1])")
                return seen, km.provisioner.process
            finally:
                kc.stop_channels()
                await km.shutdown_kernel()

    seen, process = asyncio.run(main())
    assert isinstance(process, ForkedKernel) == forked
    assert seen == "False x = 6 * 7\n"  # In and Out still hold the session's cells
    assert not list(ipython_dir.rglob("history.sqlite*"))
