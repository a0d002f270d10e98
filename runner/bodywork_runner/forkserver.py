"""A runner process that has imported papermill and its world once, and forks the runner
of each batch notebook stage from there: ``python -m bodywork_runner.forkserver SOCKET``.

A runner spends about 0.35 s of CPU starting Python and importing what runs a notebook,
the same for every stage. Forked, each stage's runner is still a process of its own,
started from a server that never ran a stage (its memory is the imports' and nothing
else): it gets its own environment, working folder, session and output, and starts its
kernel as a cold runner does, a fresh interpreter with the stage's environment. Only
batch stages come here: their own code never runs in the runner's process.

The protocol, on a Unix socket, one connection per stage: the client sends one JSON line
``{"argv": [...], "env": {...}, "cwd": "..."}`` with the stage's output (a pipe's write
end) attached (SCM_RIGHTS); the server answers ``{"pid": N}``, then ``{"returncode": N}``
(negative: the signal that ended it) once the runner has exited, and closes. It exits when
its parent (the supervisor) does; its runners get SIGKILL with it.

The server starts a kernel server beside itself (``bodywork_runner.kernelserver``, the
same interpreter and start-up variables), and its runners find it in
``BODYWORK_KERNEL_SERVER``: their kernels are forked too, each still a process of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
#: The first message (the request and its file descriptors) is read at most this large.
_FIRST_READ = 1 << 16
#: A request comes with the child's stdout, and optionally its stderr.
_MAX_FDS = 2

#: In a forked child: the request, the descriptors that came with it; never returns.
Child = Callable[[dict[str, Any], list[int]], None]


def preload() -> None:
    """What every batch notebook runner imports, imported once here."""
    import bodywork_runner.cli  # noqa: F401
    from bodywork_runner import notebook

    notebook._import_papermill_quickly()
    # jupyter_client looks for kernelspecs under IPython's folder too, importing IPython
    # to find it: 0.13 s in every stage otherwise
    import IPython.paths  # noqa: F401
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import papermill.engines  # noqa: F401
    from nbformat import validator

    # the notebook's schema validator, built on its first use (about 0.03 s a version):
    # notebooks of today's minor version and of the one before it
    for minor in (4, 5):
        validator.get_validator(version=4, version_minor=minor)  # type: ignore[no-untyped-call]


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, _FIRST_READ, _MAX_FDS)
    try:
        if not fds:
            raise ValueError("no output descriptor came with the request")
        while not data.endswith(b"\n"):
            more = conn.recv(_FIRST_READ)
            if not more:
                raise ValueError("the request ended early")
            data += more
        return json.loads(data), fds
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise


def become_requested_process(request: dict[str, Any], fds: list[int]) -> None:
    """In a forked child: a session of its own that dies with the server, stdin from
    /dev/null, stdout the first descriptor and stderr the last, the request's working
    folder and environment."""
    os.setsid()  # as jupyter_client starts a kernel: its group is what a stop signals
    die_with_parent()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[-1], 2)
    for fd in {null, *fds}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from this environment's TMPDIR


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked runner: become the stage's process, run it, exit."""
    become_requested_process(request, fds)
    if _kernel_server is not None:  # (if it has died since, kernels start cold)
        from bodywork_runner.kernelserver import SERVER_ENV

        os.environ[SERVER_ENV] = _kernel_server_path
    sys.argv = [sys.argv[0], *request["argv"]]
    from bodywork_runner.cli import main
    from bodywork_runner.exiting import quick_exit

    code = 1
    try:
        code = main(request["argv"])
    except SystemExit as exc:  # argparse (a bad argument)
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        quick_exit(code)


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the supervisor is gone: the runner goes with it
        conn.sendall(json.dumps(message).encode() + b"\n")


def serve(
    path: str,
    child: Child = _child,
    *,
    before: Callable[[], None] | None = None,
    kill_on_hangup: bool = False,
) -> None:
    """Fork ``child`` for every request on the socket ``path``, for ever.

    ``before`` (the imports) runs once the socket listens: a client that comes early
    waits for its answer instead of finding no server. With ``kill_on_hangup``, a child
    whose client closes its connection before the child ends is killed with its process
    group (the client was its owner).
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    if before is not None:
        before()
    # what the imports made stays out of the collector's reach: a collection in a child
    # would otherwise write to (and so copy) every page of it (a kernel's start: 0.1 s ->
    # 0.06 s)
    gc.freeze()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, its connection)
    hangups: dict[socket.socket, tuple[int, int]] = {}  # connection -> its child's pid, pidfd
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, fds = _read_request(conn)
                except (OSError, ValueError) as exc:
                    _send(conn, {"error": str(exc)})
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    try:
                        selector.close()
                        listener.close()
                        conn.close()
                        for fd, (_, other) in children.items():
                            os.close(fd)
                            other.close()
                        child(request, fds)
                    finally:  # never back into the server's loop
                        os._exit(70)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ)
                _send(conn, {"pid": pid})
                if kill_on_hangup:
                    hangups[conn] = (pid, pidfd)
                    selector.register(conn, selectors.EVENT_READ)
            elif isinstance(key.fileobj, socket.socket):
                conn = key.fileobj  # the client spoke or hung up: either way, it is done
                selector.unregister(conn)
                _kill_child(*hangups.pop(conn))
            else:
                pidfd = int(key.fd)
                pid, conn = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                if hangups.pop(conn, None) is not None:
                    selector.unregister(conn)
                _send(conn, {"returncode": _returncode(status)})
                conn.close()


def _kill_child(pid: int, pidfd: int) -> None:
    """Kill a child and its process group: the child itself through its pidfd, as it
    may not have made its own group yet (then it has no group and no children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


#: The kernel server beside this one (None: not started, or not in this process).
_kernel_server: subprocess.Popen[bytes] | None = None
_kernel_server_path = ""


def _start_kernel_server(path: str) -> None:
    """Start the kernel server now: its imports overlap this server's."""
    global _kernel_server, _kernel_server_path
    _kernel_server_path = str(Path(path).with_name("kernels"))
    with contextlib.suppress(OSError):
        _kernel_server = subprocess.Popen(
            [sys.executable, "-m", "bodywork_runner.kernelserver", _kernel_server_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )


def main() -> None:
    die_with_parent()
    _start_kernel_server(sys.argv[1])
    serve(sys.argv[1], before=preload)


if __name__ == "__main__":
    main()
