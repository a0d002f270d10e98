"""A notebook's stage tag (``metadata.bodywork``) and its papermill parameters.

Tags are written by editing the notebook's JSON in place: cells, outputs and
key order are untouched, and the file is re-serialised the way Jupyter wrote
it, so a tag change is a diff of a few metadata lines.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bodywork_jupyter.errors import TagError
from bodywork_jupyter.pipeline.files import atomic_write
from bodywork_jupyter.pipeline.tags import TAG_KEY, ordered

_INDENT = re.compile(r'^\{\n( +)"')


def read_json(path: Path) -> dict[str, Any]:
    """A notebook's JSON, or a TagError that says what is wrong with the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TagError(f"{path}: no such notebook - check the path") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TagError(
            f"{path}: not a notebook (invalid JSON: {exc}) - open and save it in Jupyter"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise TagError(f"{path}: not a notebook (no 'cells' list) - check the file")
    return data


def read_tag(path: Path) -> dict[str, Any] | None:
    """The notebook's stage tag, or None when it is not a stage."""
    metadata = read_json(path).get("metadata")
    tag = metadata.get(TAG_KEY) if isinstance(metadata, dict) else None
    return tag if isinstance(tag, dict) else None


def write_tag(path: Path, tag: dict[str, Any] | None) -> bool:
    """Set (or, with None, remove) the stage tag. Returns whether the file changed."""
    text = path.read_text(encoding="utf-8")
    notebook = read_json(path)
    match = _INDENT.match(text)
    indent = len(match.group(1)) if match else 1
    newline = "\n" if text.endswith("\n") else ""
    # Jupyter writes sorted keys; keep whatever order this file uses.
    sort_keys = _dump(notebook, indent, True) + newline == text
    metadata = notebook.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise TagError(f"{path}: 'metadata' is not a mapping - repair the notebook in Jupyter")
    if tag is None:
        if TAG_KEY not in metadata:
            return False
        del metadata[TAG_KEY]
    else:
        metadata[TAG_KEY] = ordered(tag)
    new_text = _dump(notebook, indent, sort_keys) + newline
    if new_text == text:
        return False
    atomic_write(path, new_text)
    return True


def _dump(notebook: dict[str, Any], indent: int, sort_keys: bool) -> str:
    return json.dumps(notebook, indent=indent, sort_keys=sort_keys, ensure_ascii=False)


@dataclass(frozen=True)
class Parameter:
    """One assignment in a notebook's papermill ``parameters`` cell."""

    name: str
    type: str
    default: Any
    source: str
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "source": self.source,
            "help": self.help,
        }


def parameters(path: Path) -> list[Parameter]:
    """The parameters (name, type, default) of the notebook's papermill parameters cell."""
    notebook = read_json(path)
    for index, cell in enumerate(notebook["cells"]):
        tags = cell.get("metadata", {}).get("tags", []) if isinstance(cell, dict) else []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            return parse_parameters(source, f"{path} (cell {index + 1})")
    return []


def parse_parameters(source: str, where: str = "parameters cell") -> list[Parameter]:
    """Parameters from the source of a parameters cell (IPython magics are skipped)."""
    python = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    try:
        tree = ast.parse(python)
    except SyntaxError as exc:
        raise TagError(
            f"{where}: line {exc.lineno}: not valid Python ({exc.msg}) - fix the parameters cell"
        ) from None
    comments = _comments(python)
    found: list[Parameter] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value, annotation = node.targets[0], node.value, None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value, annotation = node.target, node.value, node.annotation
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        text = ast.get_source_segment(python, value) or ""
        try:
            default = ast.literal_eval(value)
            kind = type(default).__name__ if default is not None else "None"
        except ValueError:
            default, kind = None, "expression"
        if annotation is not None:
            kind = ast.get_source_segment(python, annotation) or kind
        found.append(Parameter(target.id, kind, default, text, comments.get(node.lineno, "")))
    return found


def _comments(source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                out[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return out
