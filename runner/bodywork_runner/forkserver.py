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
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
from typing import Any

_PR_SET_PDEATHSIG = 1
#: The first message (the request and its file descriptor) is read at most this large.
_FIRST_READ = 1 << 16


def preload() -> None:
    """What every batch notebook runner imports, imported once here."""
    import bodywork_runner.cli  # noqa: F401
    from bodywork_runner import notebook

    notebook._import_papermill_quickly()
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import papermill.engines  # noqa: F401


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], int]:
    data, fds, _, _ = socket.recv_fds(conn, _FIRST_READ, 1)
    if not fds:
        raise ValueError("no output descriptor came with the request")
    while not data.endswith(b"\n"):
        more = conn.recv(_FIRST_READ)
        if not more:
            os.close(fds[0])
            raise ValueError("the request ended early")
        data += more
    return json.loads(data), fds[0]


def _child(request: dict[str, Any], out: int) -> None:
    """In the forked runner: become the stage's process, run it, exit."""
    os.setsid()
    _die_with_parent()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from this environment's TMPDIR
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


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, its connection)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, out = _read_request(conn)
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
                        _child(request, out)
                    finally:  # never back into the server's loop
                        os._exit(70)
                os.close(out)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ)
                _send(conn, {"pid": pid})
            else:
                pidfd = int(key.fd)
                pid, conn = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                _send(conn, {"returncode": _returncode(status)})
                conn.close()


def main() -> None:
    _die_with_parent()
    preload()
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
