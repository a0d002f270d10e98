"""Batch notebook runners forked from a warm server (``bodywork_runner.forkserver``).

A cold runner spends about 0.35 s of CPU and wall time starting Python and importing
papermill and its world, every stage. Here one server per supervisor has done that once,
and each batch notebook stage's runner is forked from it: a process of its own, with the
stage's environment, folder, session and output, whose kernel starts cold as before.

``start_runner`` gives a process with the parts of ``asyncio.subprocess.Process`` that
``RunnerProcess`` uses, or None for what is started the usual way: a service or a module,
an environment whose start-up variables differ from the server's, a system without
pidfds (Linux 5.3), ``BODYWORK_RUNNER_FORK=0``, or a server that would not start.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

#: ``BODYWORK_RUNNER_FORK=0`` in the environment: every runner starts cold.
SWITCH_ENV = "BODYWORK_RUNNER_FORK"
#: Variables that Python or the server's imports read as they start: a runner is forked
#: only from a server started with the same values (the server gets no others, so no
#: stage's secret is in its memory).
_STARTUP = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP"}
)
_STARTUP_PREFIXES = ("PYTHON", "LC_", "JUPYTER", "IPYTHON")
#: How long a server may take to import what it preloads.
START_TIMEOUT_SECONDS = 30.0

#: (the event loop, the start-up variables) -> its server (None: it would not start)
_servers: dict[
    tuple[asyncio.AbstractEventLoop, frozenset[tuple[str, str]]],
    asyncio.Future[ForkServer | None],
] = {}


def startup_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in _STARTUP or k.startswith(_STARTUP_PREFIXES)}


def forkable(spec_path: Path, env: dict[str, str]) -> bool:
    """Whether the stage in ``spec_path`` may run in a forked runner."""
    if env.get(SWITCH_ENV) == "0" or not hasattr(os, "pidfd_open"):
        return False
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the cold runner says what is wrong with it
    return spec.get("kind") == "batch" and str(spec.get("file", "")).endswith(".ipynb")


def prewarm(env: dict[str, str]) -> None:
    """Start the server for runners of ``env`` now, so the first stage need not wait for
    its imports (from a running event loop)."""
    if env.get(SWITCH_ENV) != "0" and hasattr(os, "pidfd_open"):
        _server_for(env)


def _server_for(env: dict[str, str]) -> asyncio.Future[ForkServer | None]:
    key = (asyncio.get_running_loop(), frozenset(startup_env(env).items()))
    if key not in _servers:
        _servers[key] = asyncio.ensure_future(ForkServer.start(startup_env(env)))
    return _servers[key]


async def start_runner(
    spec_path: Path, env: dict[str, str], cwd: Path, limit: int
) -> ForkedProcess | None:
    """The runner of ``spec_path`` forked from a warm server, or None (start it cold)."""
    if not forkable(spec_path, env):
        return None
    server = await asyncio.shield(_server_for(env))
    if server is None or server.process.returncode is not None:
        return None
    try:
        return await server.fork([str(spec_path)], env, cwd, limit)
    except (OSError, ValueError):
        return None


class ForkServer:
    def __init__(self, process: asyncio.subprocess.Process, path: Path) -> None:
        self.process = process
        self.path = path

    @classmethod
    async def start(cls, env: dict[str, str]) -> ForkServer | None:
        folder = Path(tempfile.mkdtemp(prefix="bodywork-fork-"))  # 0700: ours alone
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "socket"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bodywork_runner.forkserver",
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return None
        return cls(process, path)

    async def fork(
        self, argv: list[str], env: dict[str, str], cwd: Path, limit: int
    ) -> ForkedProcess:
        request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
        read_end, write_end = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
            sent = socket.send_fds(sock, [request], [write_end])
            sock.sendall(request[sent:])
        except OSError:
            sock.close()
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the runner holds it now: its exit ends our reading
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader(limit=limit)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(read_end, "rb", 0)
        )
        replies, writer = await asyncio.open_unix_connection(sock=sock)
        first = json.loads(await replies.readline() or b"{}")
        if "pid" not in first:
            writer.close()
            raise ValueError(f"the fork server did not start the runner: {first}")
        return ForkedProcess(int(first["pid"]), stdout, replies, writer)


class ForkedProcess:
    """A runner forked by the server: its pid, output and exit, as a subprocess's."""

    def __init__(
        self,
        pid: int,
        stdout: asyncio.StreamReader,
        replies: asyncio.StreamReader,
        connection: asyncio.StreamWriter,
    ) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._replies = replies
        self._connection = connection
        # a handle on this very process: a signal never reaches a later one of its pid
        self._pidfd: int | None = os.pidfd_open(pid)

    async def wait(self) -> int:
        if self.returncode is None:
            line = await self._replies.readline()
            message = json.loads(line) if line.strip() else {}
            # no answer: the server died, and its runners with it (SIGKILL)
            self.returncode = int(message.get("returncode", -signal.SIGKILL))
            self._connection.close()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self._pidfd is None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, signum)
