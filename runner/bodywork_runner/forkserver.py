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

A stage with requirements continues in its environment's interpreter once that is ready.
Its runner finds this server in ``BODYWORK_FORK_SERVER`` and asks, ``{"server_for":
PYTHON}``, for a server of that interpreter (``--env``: the same protocol, started here
with the same start-up variables, with a kernel server of its own): the answer is
``{"socket": PATH}``, and the runner forks its continuation there (``handoff``). Such a
server kills a runner whose client hangs up, and exits after ``IDLE_EXIT_SECONDS`` with
nothing to do (a redeploy's new requirements leave the old environment's unused).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
#: The first message (the request and its file descriptors) is read at most this large.
_FIRST_READ = 1 << 16
#: A request comes with the child's stdout, and optionally its stderr.
_MAX_FDS = 2

#: Where a forked runner finds the server it was forked from.
FORK_SERVER_ENV = "BODYWORK_FORK_SERVER"
#: An environment's server exits after this long with no runner (see the docstring).
IDLE_EXIT_SECONDS = 300.0

#: In a forked child: the request, the descriptors that came with it; never returns.
Child = Callable[[dict[str, Any], list[int]], None]
#: Answers a request that asks for something other than a fork (no child is forked).
Control = Callable[[dict[str, Any]], dict[str, Any]]


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
        while not data.endswith(b"\n"):
            more = conn.recv(_FIRST_READ)
            if not more:
                raise ValueError("the request ended early")
            data += more
        request = json.loads(data)
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
        if not fds and "server_for" not in request:
            raise ValueError("no output descriptor came with the request")
        return request, fds
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise


def read_line(sock: socket.socket) -> bytes:
    """One message: read a byte at a time, so none of the next one is taken with it."""
    data = b""
    while not data.endswith(b"\n"):
        more = sock.recv(1)
        if not more:
            break
        data += more
    return data


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
    from bodywork_runner.kernelserver import SERVER_ENV

    os.environ.pop(SERVER_ENV, None)  # another interpreter's, from the runner handing off
    if _kernel_server is not None:  # (if it has died since, kernels start cold)
        os.environ[SERVER_ENV] = _kernel_server_path
    if _serves_environments:
        os.environ[FORK_SERVER_ENV] = _own_path
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
    control: Control | None = None,
    idle_exit: float | None = None,
) -> None:
    """Fork ``child`` for every request on the socket ``path``, for ever (or until
    ``idle_exit`` seconds pass with no child and no request).

    ``before`` (the imports) runs once the socket listens: a client that comes early
    waits for its answer instead of finding no server. With ``kill_on_hangup``, a child
    whose client closes its connection before the child ends is killed with its process
    group (the client was its owner). ``control`` answers a ``server_for`` request.
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
    last_seen = time.monotonic()
    while True:
        timeout = None
        if idle_exit is not None and not children:
            timeout = max(0.0, last_seen + idle_exit - time.monotonic())
        ready = selector.select(timeout)
        if not ready and not children and timeout is not None:
            return  # idle: nothing to do for idle_exit seconds
        last_seen = time.monotonic()
        for key, _ in ready:
            if key.fileobj is listener:
                conn, _ = listener.accept()
                try:
                    request, fds = _read_request(conn)
                except (OSError, ValueError) as exc:
                    _send(conn, {"error": str(exc)})
                    conn.close()
                    continue
                if "server_for" in request:
                    for fd in fds:
                        os.close(fd)
                    answer = control(request) if control else {"error": "not served here"}
                    _send(conn, answer)
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
#: This server's socket, and whether it starts servers of environments (not one itself).
_own_path = ""
_serves_environments = False
#: An environment's interpreter -> its server and that server's socket.
_env_servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}


def _start_kernel_server(path: str) -> None:
    """Start the kernel server now: its imports overlap this server's."""
    global _kernel_server, _kernel_server_path
    _kernel_server_path = f"{path}-kernels"
    with contextlib.suppress(OSError):
        _kernel_server = subprocess.Popen(
            [sys.executable, "-m", "bodywork_runner.kernelserver", _kernel_server_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )


def server_for(request: dict[str, Any]) -> dict[str, Any]:
    """The socket of a server of the interpreter ``request["server_for"]`` (started now
    if there is none, or it has exited): ``{"socket": PATH}`` or ``{"error": ...}``."""
    python = str(request.get("server_for") or "")
    if not Path(python).is_absolute() or not os.access(python, os.X_OK):
        return {"error": f"no interpreter at {python!r}"}
    known = _env_servers.get(python)
    if known is not None and known[0].poll() is None:
        return {"socket": known[1]}
    digest = hashlib.sha256(python.encode()).hexdigest()[:16]
    path = f"{_own_path}-env-{digest}"
    Path(path).unlink(missing_ok=True)  # an idle one's, which has exited
    try:
        process = subprocess.Popen(
            [python, "-m", "bodywork_runner.forkserver", path, "--env"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return {"error": f"cannot start {python}: {exc}"}
    _env_servers[python] = (process, path)
    return {"socket": path}


def main() -> None:
    global _own_path, _serves_environments
    die_with_parent()
    _own_path = sys.argv[1]
    _start_kernel_server(_own_path)
    if "--env" in sys.argv[2:]:  # an environment's: its runners' clients own them
        serve(_own_path, before=preload, kill_on_hangup=True, idle_exit=IDLE_EXIT_SECONDS)
    else:
        _serves_environments = True
        serve(_own_path, before=preload, control=server_for)


if __name__ == "__main__":
    main()
