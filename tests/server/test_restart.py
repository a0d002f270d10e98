"""A Jupyter restart in the middle of a run: the run goes on, and the API finds it again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.projects import free_port
from tests.server.helpers import notebook, write_yaml
from tests.server.server_process import JupyterServer


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[JupyterServer]]:
    started: list[JupyterServer] = []
    yield started
    for server in started:
        server.stop()


def test_run_survives_a_jupyter_restart(tmp_path: Path, servers: list[JupyterServer]) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    notebook(root / "slow" / "nap.ipynb", "import time\ntime.sleep(4)\nprint('woke up')")
    write_yaml(
        root / "slow", 'version: "2.0"\npipeline: {name: nap}\nstages: {nap: {path: nap.ipynb}}\n'
    )
    port = free_port()
    first = JupyterServer(root, state, tmp_path / "home", port)
    servers.append(first.start())
    status, run = first.call("POST", "deployments", {"path": "slow"})
    assert status == 201, run
    first.stop()  # SIGTERM, mid-run (the kernel is still sleeping)

    second = JupyterServer(root, state, tmp_path / "home", port)
    servers.append(second.start())
    status, again = second.call("GET", f"runs/{run['id']}")
    assert status == 200 and again["status"] in {"queued", "running", "succeeded"}, again
    deadline = time.monotonic() + 120
    while again["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.3)
        again = second.call("GET", f"runs/{run['id']}")[1]
    assert again["status"] == "succeeded", again
    log = second.call("GET", f"runs/{run['id']}/logs/nap")[1]
    assert "woke up" in log["text"]
    status, deleted = second.call("DELETE", "deployments/nap")
    assert status == 200 and deleted["status"] == "deleted"
