"""A forked runner continues its stage in a warm server of the stage environment's
interpreter, instead of re-executing itself there.

A notebook stage with requirements runs papermill and its kernel on its environment's
interpreter (``cli``: ``--in-env``). Re-executed there, the runner starts Python and
imports papermill's world again, and its kernel starts cold (the kernel server beside
the runner's own fork server has the runner's packages, not the environment's): about
0.35 s and 0.3-0.8 s of CPU a stage. A runner forked from a fork server
(``BODYWORK_FORK_SERVER``) asks that server for one of the environment's interpreter
(``forkserver.server_for``) and has its continuation forked there, kernel server and
all: the same ``--in-env`` command line, environment, folder and output descriptors that
the re-executed runner would have had.

This process stays as the stage's runner for its supervisor: it passes SIGTERM and
SIGINT on to the continuation, waits for it, and ends as it ended (the same exit code,
or the same signal). Killed, it hangs up, and the server kills the continuation with its
process group. Anything that fails before the continuation has started leaves the
re-execution to do it, and so does ``BODYWORK_RUNNER_FORK_ENVS=0`` in the stage's
environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bodywork_runner.forkserver import FORK_SERVER_ENV, read_line
from bodywork_runner.kernelserver import SERVER_ENV

log = logging.getLogger(__name__)

#: ``BODYWORK_RUNNER_FORK_ENVS=0``: the stage re-executes in its environment (cold).
SWITCH_ENV = "BODYWORK_RUNNER_FORK_ENVS"
#: How long a new server may take to listen, then to import what it preloads.
START_TIMEOUT_SECONDS = 30.0


def continue_in(python: str, argv: list[str]) -> int | None:
    """Run ``python -m bodywork_runner ARGV`` as a child of ``python``'s fork server and
    return its exit code (negative: the signal that ended it); None when no server
    could start it (re-execute instead)."""
    main_server = os.environ.get(FORK_SERVER_ENV)
    if not main_server or os.environ.get(SWITCH_ENV) == "0":
        return None
    try:
        answer = _ask(main_server, {"server_for": python})
        if "socket" not in answer:
            raise ValueError(str(answer.get("error", answer)))
        sock = _connect(str(answer["socket"]), time.monotonic() + START_TIMEOUT_SECONDS)
    except (OSError, ValueError) as exc:
        log.debug("continuing by re-executing: %s", exc)
        return None
    with sock:
        pid = _start(sock, argv)
        if pid is None:
            return None
        return _wait(sock, pid)


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(START_TIMEOUT_SECONDS)
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(read_line(sock) or b"{}")
    if not isinstance(answer, dict):
        raise ValueError(f"an answer that is no object: {answer!r}")
    return answer


def _connect(path: str, deadline: float) -> socket.socket:
    """Connected to ``path``, which a server just started may not have bound yet."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        except OSError:
            sock.close()
            raise


def _start(sock: socket.socket, argv: list[str]) -> int | None:
    """The continuation's pid once the server has forked it (None: it did not)."""
    env = dict(os.environ)
    env.pop(SERVER_ENV, None)  # the runner's interpreter's kernels: the server sets its own
    request = json.dumps({"argv": argv, "env": env, "cwd": str(Path.cwd())}).encode() + b"\n"
    for stream in (sys.stdout, sys.stderr):  # what this process said comes first
        stream.flush()
    try:
        sock.settimeout(START_TIMEOUT_SECONDS)  # the server may still be importing
        sent = socket.send_fds(sock, [request], [1, 2])
        sock.sendall(request[sent:])
        first = json.loads(read_line(sock) or b"{}")
    except (OSError, ValueError) as exc:
        log.debug("continuing by re-executing: %s", exc)
        return None
    if not isinstance(first, dict) or "pid" not in first:
        log.debug("continuing by re-executing: the server said %s", first)
        return None
    return int(first["pid"])


def _wait(sock: socket.socket, pid: int) -> int:
    pidfd = os.pidfd_open(pid)

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(pidfd, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        sock.settimeout(None)
        try:
            line = read_line(sock)
        except OSError:
            line = b""
        message = json.loads(line) if line.strip() else {}
    finally:
        os.close(pidfd)
    # no answer: the server died, and the continuation with it (SIGKILL)
    return int(message.get("returncode", -signal.SIGKILL))


def end_as(code: int) -> int:
    """For a negative ``code``, end this process by the same signal; else ``code``."""
    if code < 0:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code  # a signal that does not end a process by default
    return code
