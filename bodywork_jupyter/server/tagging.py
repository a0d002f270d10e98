"""Stage files under the server's root: listing them, and writing tags through Jupyter.

Tags are written through the server's contents manager (get the model, change the
tag, save), exactly as JupyterLab saves a notebook, so an open editor sees the
change as an ordinary save and nothing is written behind its back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async

from bodywork_jupyter.errors import ConfigError, TagError
from bodywork_jupyter.pipeline import notebook, pymodule, stagefiles
from bodywork_jupyter.pipeline.tags import TAG_KEY, check_tag, ordered


def describe(root: Path, path: Path) -> dict[str, Any]:
    """One file: its stage tag (or null), its papermill parameters, and what is wrong with it."""
    relative = path.relative_to(root).as_posix()
    entry: dict[str, Any] = {
        "path": relative,
        "type": "notebook" if path.suffix == ".ipynb" else "module",
        "stage": None,
        "tag": None,
        "parameters": [],
        "problems": [],
    }
    try:
        tag = stagefiles.read_tag(path)
        if path.suffix == ".ipynb":
            entry["parameters"] = [_parameter(p) for p in notebook.parameters(path)]
    except TagError as exc:
        entry["problems"].append(_problem(relative, str(exc).split(": ", 1)[-1]))
        return entry
    if tag is not None:
        entry["tag"] = tag
        entry["stage"] = tag.get("stage") if isinstance(tag.get("stage"), str) else None
        problems = check_tag(tag, relative, stagefiles.tag_location(path))
        entry["problems"] = [p.to_dict() for p in problems]
    return entry


def list_stage_files(root: Path, tagged_only: bool = False) -> list[dict[str, Any]]:
    entries = [describe(root, path) for path in stagefiles.candidates(root)]
    return [e for e in entries if e["tag"] is not None] if tagged_only else entries


async def write_tag(contents: Any, api_path: str, tag: dict[str, Any] | None) -> bool:
    """Set (or, with None, clear) the tag of ``api_path`` via the contents manager."""
    suffix = Path(api_path).suffix
    if suffix not in stagefiles.STAGE_SUFFIXES:
        raise TagError(f"{api_path}: stages are .ipynb notebooks or .py modules - pick one")
    if tag is not None:
        problems = check_tag(tag, api_path, stagefiles.tag_location(Path(api_path)))
        if problems:
            raise ConfigError(problems)
    if suffix == ".ipynb":
        model = await ensure_async(contents.get(api_path, content=True, type="notebook"))
        content = model["content"]
        metadata = content.setdefault("metadata", {})
        before = metadata.get(TAG_KEY)
        if tag is None:
            metadata.pop(TAG_KEY, None)
        else:
            metadata[TAG_KEY] = ordered(tag)
        if metadata.get(TAG_KEY) == before:
            return False
        new = {"type": "notebook", "format": "json", "content": content}
    else:
        model = await ensure_async(contents.get(api_path, content=True, type="file", format="text"))
        text = model["content"]
        new_text = pymodule.with_tag(text, tag, api_path)
        if new_text == text:
            return False
        new = {"type": "file", "format": "text", "content": new_text}
    await ensure_async(contents.save(new, api_path))
    return True


def _parameter(item: notebook.Parameter) -> dict[str, Any]:
    data = item.to_dict()
    return {key: data[key] for key in ("name", "type", "default", "help")}


def _problem(file: str, message: str) -> dict[str, Any]:
    return {
        "file": file,
        "line": 0,
        "path": "",
        "message": message,
        "hint": "",
        "severity": "error",
    }
