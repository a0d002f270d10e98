"""Writing test projects: notebooks, bodywork.yaml, git commits, free ports.

Shared by every tier that deploys or serves something.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def notebook(
    path: Path, *cells: str, params: str | None = None, tag: dict[str, Any] | None = None
) -> Path:
    """A notebook with a kernelspec, an optional parameters cell and stage tag, then ``cells``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if tag is not None:
        nb.metadata["bodywork"] = tag
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_yaml(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bodywork.yaml").write_text(textwrap.dedent(text), encoding="utf-8")


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def example_copy(name: str, dest: Path) -> tuple[Path, int]:
    """A copy of ``examples/NAME`` whose services listen on a free port.

    The README's demo leaves the example serving on its own port (5000); the tests
    must not depend on that port being free.
    """
    shutil.copytree(ROOT / "examples" / name, dest, ignore=shutil.ignore_patterns("data"))
    port = free_port()
    config = dest / "bodywork.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("port: 5000", f"port: {port}"),
        encoding="utf-8",
    )
    return dest, port
