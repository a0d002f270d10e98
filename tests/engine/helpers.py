"""Helpers for deploying real projects on the local backend in tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def notebook(path: Path, *cells: str, params: str | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Bodywork:
    """The ``bodywork`` CLI against one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def __call__(self, *args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BODYWORK_STATE_DIR": str(self.state_dir), "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )

    def store(self):  # type: ignore[no-untyped-def]
        from bodywork_jupyter.engine.store import RunStore

        return RunStore(self.state_dir)


def git_commit(folder: Path, message: str = "commit") -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    if not (folder / ".git").exists():
        git("init", "-q")
        git("config", "user.email", "test@example.com")
        git("config", "user.name", "test")
    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD")


def write_yaml(folder: Path, text: str) -> None:
    (folder / "bodywork.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


def events(bw: Bodywork, run_id: str) -> list[dict[str, object]]:
    store = bw.store()
    return [
        {"type": e.type, "stage": e.stage, "attempt": e.attempt, "time": e.time, **e.data}
        for e in store.events(run_id)
    ]


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    for line in result.stdout.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].rstrip(")")
    raise AssertionError(f"no run id in output:\n{result.stdout}\n{result.stderr}")


def example_copy(name: str, dest: Path) -> tuple[Path, int]:
    """A copy of ``examples/NAME`` whose services listen on a free port.

    The README's demo leaves the example serving on its own port (5000); the tests
    must not depend on that port being free.
    """
    import shutil

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "examples" / name, dest, ignore=shutil.ignore_patterns("data"))
    port = free_port()
    config = dest / "bodywork.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("port: 5000", f"port: {port}"),
        encoding="utf-8",
    )
    return dest, port
