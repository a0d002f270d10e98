"""A fork server's servers of other interpreters (forkserver.server_for) and the runner's
continuation in one (handoff): the protocol on a real server, and the re-execution that
takes over when no server can start the continuation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import make_spec, run_runner, runner_env, write_notebook

from bodywork_runner.forkserver import FORK_SERVER_ENV, read_line

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfds (Linux)")


def _ask(path: Path, request: dict[str, object]) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(read_line(sock))
    assert isinstance(answer, dict)
    return answer


def test_a_server_names_the_socket_of_a_server_of_an_interpreter(tmp_path: Path) -> None:
    path = tmp_path / "socket"
    server = subprocess.Popen(
        [sys.executable, "-m", "bodywork_runner.forkserver", str(path)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        first = _ask(path, {"server_for": sys.executable})
        assert first == {"socket": f"{path}-env-" + str(first["socket"]).rsplit("-", 1)[1]}
        assert _ask(path, {"server_for": sys.executable}) == first  # one per interpreter
        for bad in ("python3", str(tmp_path / "nothing"), ""):
            answer = _ask(path, {"server_for": bad})
            assert "no interpreter at" in str(answer.get("error")), answer
        # the environment's server listens on the socket it was given
        deadline = time.monotonic() + 30
        while not Path(str(first["socket"])).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ask(Path(str(first["socket"])), {"server_for": sys.executable}) == {
            "error": "not served here"  # an environment's server starts no others
        }
    finally:
        server.kill()
        server.wait()
        assert server.stdout is not None
        server.stdout.close()


def test_an_idle_server_exits(tmp_path: Path) -> None:
    path = tmp_path / "socket"
    code = f"from bodywork_runner.forkserver import serve; serve({str(path)!r}, idle_exit=0.5)"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    assert server.wait(timeout=20) == 0
    server.stdout.close()


def test_with_no_server_to_continue_in_the_runner_re_executes(
    tmp_path: Path, tiny_wheel_dir: Path
) -> None:
    project = tmp_path / "project"
    write_notebook(project / "uses.ipynb", "import sys, bwtiny\nprint('on', sys.executable)")
    spec = make_spec(project, "uses.ipynb", tmp_path, requirements=["bwtiny==0.1.0"])
    env = runner_env(
        PIP_FIND_LINKS=str(tiny_wheel_dir),
        PIP_NO_INDEX="1",
        **{FORK_SERVER_ENV: str(tmp_path / "no-server")},
    )
    result = run_runner(spec, tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"on {result.one('requirements.ready')['python']}" in result.stdout
