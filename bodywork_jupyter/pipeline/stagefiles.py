"""Finding tagged stage files (notebooks and modules) in a project folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bodywork_jupyter.errors import TagError
from bodywork_jupyter.pipeline import notebook, pymodule
from bodywork_jupyter.pipeline.problems import Problem
from bodywork_jupyter.pipeline.tags import check_tag

#: Folders never scanned: tool caches, environments, version control.
SKIP_DIRS = frozenset(
    {"__pycache__", "node_modules", "venv", "env", "site-packages", "build", "dist"}
)
STAGE_SUFFIXES = (".ipynb", ".py")


@dataclass(frozen=True)
class TaggedFile:
    """A file that declares itself a stage."""

    path: str  # POSIX, relative to the scanned folder
    tag: dict[str, Any]

    @property
    def stage(self) -> str:
        return str(self.tag["stage"])

    @property
    def fields(self) -> dict[str, Any]:
        """The tag as stage fields (``stage`` is the entry's name, not a field)."""
        return {k: v for k, v in self.tag.items() if k != "stage"}


def tag_location(path: Path) -> tuple[str, ...]:
    return ("metadata", "bodywork") if path.suffix == ".ipynb" else ("# /// bodywork",)


def read_tag(path: Path) -> dict[str, Any] | None:
    """The stage tag of a notebook or module, or None."""
    if path.suffix == ".ipynb":
        return notebook.read_tag(path)
    if path.suffix == ".py":
        return pymodule.read_tag(path)
    raise TagError(f"{path}: stages are .ipynb notebooks or .py modules - pick one of those")


def write_tag(path: Path, tag: dict[str, Any] | None) -> bool:
    """Write (or remove, with None) a stage tag, refusing an invalid one."""
    if tag is not None:
        problems = check_tag(tag, str(path), tag_location(path))
        if problems:
            raise TagError("\n".join(p.render() for p in problems))
    if path.suffix == ".ipynb":
        return notebook.write_tag(path, tag)
    if path.suffix == ".py":
        return pymodule.write_tag(path, tag)
    raise TagError(f"{path}: stages are .ipynb notebooks or .py modules - pick one of those")


def scan(root: Path) -> tuple[list[TaggedFile], list[Problem]]:
    """Every tagged stage file under ``root``, in path order, and the problems with them."""
    found: list[TaggedFile] = []
    problems: list[Problem] = []
    for path in candidates(root):
        relative = path.relative_to(root).as_posix()
        try:
            tag = _quick_read(path)
        except TagError as exc:
            problems.append(Problem(relative, 0, "", str(exc).split(": ", 1)[-1], ""))
            continue
        if tag is None:
            continue
        tag_problems = check_tag(tag, relative, tag_location(path))
        if tag_problems:
            problems.extend(tag_problems)
            continue
        found.append(TaggedFile(relative, tag))
    seen: dict[str, str] = {}
    for item in found:
        if item.stage in seen:
            problems.append(
                Problem(
                    item.path,
                    0,
                    "stage",
                    f"stage '{item.stage}' is also declared by {seen[item.stage]}",
                    "give each stage its own name",
                )
            )
        seen.setdefault(item.stage, item.path)
    return found, problems


def _quick_read(path: Path) -> dict[str, Any] | None:
    # Most notebooks are not stages: look for the key before parsing any JSON.
    raw = path.read_bytes()
    if path.suffix == ".ipynb":
        return notebook.read_tag(path) if b'"bodywork"' in raw else None
    text = raw.decode("utf-8", errors="replace")
    return pymodule.read_tag_text(text, str(path)) if pymodule.MARKER in text else None


def candidates(root: Path) -> Iterator[Path]:
    """Every notebook and module under ``root`` that could be a stage, in path order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(STAGE_SUFFIXES) and not name.startswith("."):
                yield Path(folder) / name
