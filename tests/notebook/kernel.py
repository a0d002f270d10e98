"""Run a notebook of ``%bodywork`` cells in a real kernel (nbclient) and read its outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def execute(
    path: Path, cells: list[str], *, state_dir: Path, env: dict[str, str] | None = None
) -> list[Any]:
    """Write ``cells`` as the notebook ``path``, run it in its folder; the executed cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    kernel_env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    kernel_env.update({"BODYWORK_STATE_DIR": str(state_dir), "NO_COLOR": "1", **(env or {})})
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=kernel_env)
    return list(nb.cells)


def text(cell: Any) -> str:
    """Everything a cell printed or displayed, as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("display_data", "execute_result"):
            parts.append(str(out["data"].get("text/plain", "")))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "\n".join(parts)


def mimetypes(cell: Any) -> set[str]:
    return {
        mime
        for out in cell.get("outputs", [])
        if out["output_type"] in ("display_data", "execute_result")
        for mime in out["data"]
    }


def has_error(cell: Any) -> bool:
    return any(out["output_type"] == "error" for out in cell.get("outputs", []))
