"""Kernels forked from an interpreter that has imported ipykernel and IPython once:
``python -m bodywork_runner.kernelserver SOCKET``.

A cold kernel spends about 0.5 s of CPU starting Python and importing ipykernel, IPython,
zmq and tornado before it builds its shell: the same work for every notebook stage, and
on a small machine most of what a short stage costs. Here the imports are done once, by
a server that never runs a cell, and each stage's kernel is forked from it: a process of
its own, in a session of its own, with the stage's environment, working folder and
command line, which builds its kernel app and shell from nothing as a cold kernel does.
What the kernels of one server share is what an interpreter fixes as it starts: its
string hash seed and the start-up variables (the server is started with those alone, so
no stage's secret is in its memory). ``BODYWORK_RUNNER_FORK=0`` starts every kernel cold
(and every runner), ``BODYWORK_RUNNER_FORK_KERNELS=0`` a stage's kernel.

The runner of a stage asks for its kernel over the socket (``ForkedKernel``); the
protocol is the runner fork server's (``bodywork_runner.forkserver``) with two
descriptors attached, the kernel's stdout and stderr, and one rule more: a kernel whose
runner hangs up before it ends is killed with its process group, as a cold kernel ends
when its runner does.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from bodywork_runner.forkserver import become_requested_process, die_with_parent, read_line, serve

#: Where a forked runner finds the kernel server of its interpreter.
SERVER_ENV = "BODYWORK_KERNEL_SERVER"
#: ``BODYWORK_RUNNER_FORK_KERNELS=0`` in a stage's environment: its kernel starts cold.
SWITCH_ENV = "BODYWORK_RUNNER_FORK_KERNELS"
#: How long a runner waits for the server's answer (it may still be importing).
ANSWER_TIMEOUT_SECONDS = 10.0


def preload() -> None:
    """What every kernel imports before its shell exists, imported once here."""
    # as papermill's CLI: no warning from the debugger's file checks in every stage log
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import ipykernel.debugger  # debugpy: a third of a kernel's own set-up
    import ipykernel.ipkernel
    import ipykernel.zmqshell  # noqa: F401
    from ipykernel import kernelapp  # noqa: F401


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked kernel: become the stage's kernel process, run it, exit."""
    become_requested_process(request, fds)
    run_kernel(request["argv"])


def run_kernel(argv: list[str]) -> NoReturn:
    """Run ipykernel's kernel app with ``argv`` (ipykernel_launcher's arguments) in this
    process, and end it: a forked kernel, or a cold one (``kernel_launcher``)."""
    import ipykernel_launcher  # type: ignore[import-untyped]

    sys.argv = [str(ipykernel_launcher.__file__), *argv]
    from ipykernel import kernelapp

    from bodywork_runner.exiting import quick_exit

    code = 1
    try:
        app = kernelapp.IPKernelApp.instance()
        # read from the environment when ipykernel is imported, i.e. in the server: the
        # kernel's own (its runner) makes it watch its parent and not print the note
        # for users of the `ipython kernel` entry point
        app.parent_handle = int(os.environ.get("JPY_PARENT_PID") or 0)
        app.initialize(argv)  # type: ignore[no-untyped-call]
        app.start()  # type: ignore[no-untyped-call]
        _stop_control_thread(app)
        code = 0
    except SystemExit as exc:  # sys.exit in a cell ends the kernel the same way
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        # IPython's atexit handlers (its history) run; the module teardown is skipped
        quick_exit(code)


def _stop_control_thread(app: Any) -> None:
    """End the control thread before ipykernel's exit handler closes the IOPub thread.

    That handler stops IOPub first: a control thread still flushing its last reply (the
    shutdown's) then waits seconds for a thread that is gone, and the kernel does not
    end when asked. Stopped first, it finishes its flush while IOPub still runs.
    """
    thread = getattr(app, "control_thread", None)
    if thread is not None and thread.is_alive():
        thread.stop()
        thread.join(timeout=1.0)


def main() -> None:
    die_with_parent()
    # as ipykernel_launcher: the server's folder is not on the kernels' import path
    # (IPython puts the kernel's own working folder there)
    if sys.path and (sys.path[0] in ("", str(Path.cwd()))):
        del sys.path[0]
    serve(sys.argv[1], _child, before=preload, kill_on_hangup=True)


class ForkedKernel:
    """A kernel forked by the server, with the parts of ``subprocess.Popen`` that
    jupyter_client's ``LocalProvisioner`` uses."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, connection: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._connection = connection
        # a handle on this very process: a signal never reaches a later one of its pid
        self._pidfd: int | None = os.pidfd_open(pid)

    @classmethod
    def start(
        cls, server: str, argv: list[str], env: dict[str, str], cwd: str, fds: list[int]
    ) -> ForkedKernel:
        """Raises OSError or ValueError when the server cannot start it (start it cold)."""
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode() + b"\n"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(ANSWER_TIMEOUT_SECONDS)
            sock.connect(server)
            sent = socket.send_fds(sock, [request], fds)
            sock.sendall(request[sent:])
            first = json.loads(read_line(sock) or b"{}")
            if "pid" not in first:
                raise ValueError(f"the kernel server did not start the kernel: {first}")
            return cls(int(first["pid"]), sock)
        except (OSError, ValueError):
            sock.close()
            raise

    def poll(self) -> int | None:
        if self.returncode is None:
            readable, _, _ = select.select([self._connection], [], [], 0)
            if readable:
                self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            readable, _, _ = select.select([self._connection], [], [], timeout)
            if not readable:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            self._ended()
        assert self.returncode is not None
        return self.returncode

    def _ended(self) -> None:
        try:
            line = read_line(self._connection)
        except OSError:
            line = b""
        message = json.loads(line) if line.strip() else {}
        # no answer: the server died, and its kernels with it (SIGKILL)
        self.returncode = int(message.get("returncode", -signal.SIGKILL))
        self._connection.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def send_signal(self, signum: int) -> None:
        if self._pidfd is None:
            return  # it has ended, as Popen.send_signal does then
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


if __name__ == "__main__":
    main()
