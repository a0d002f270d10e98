"""Keeping every path a client sends inside the Jupyter server's root.

A path is refused (403) when, after URL-decoding until nothing changes, it is
absolute, holds a NUL, or resolves (symlinks followed) outside the root.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from bodywork_jupyter.server.errors import ForbiddenError, NotFoundError

_DRIVE = re.compile(r"^[A-Za-z]:")


def decode(text: str) -> str:
    """``text`` URL-decoded until stable (so double-encoded ``%252e%252e`` is seen as ``..``)."""
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    raise ForbiddenError("the path is encoded too many times")


def inside_root(root: Path, relative: str, must_exist: bool = True) -> Path:
    """The real path of ``relative`` under ``root``; ForbiddenError when it leaves it."""
    text = decode(relative).replace("\\", "/")
    if "\x00" in text:
        raise ForbiddenError("the path holds a NUL character")
    if text.startswith("/") or _DRIVE.match(text):
        raise ForbiddenError(f"{text}: absolute paths are refused - give a path inside the root")
    if ".." in PurePosixPath(text).parts:
        raise ForbiddenError(f"{text}: '..' is refused - give a path inside the server's root")
    root = root.resolve()
    target = (root / text).resolve()
    if target != root and root not in target.parents:
        raise ForbiddenError(f"{text}: leads outside the server's root (a symlink?)")
    if must_exist and not target.exists():
        raise NotFoundError(f"{text or '.'}: no such file or folder under the server's root")
    return target


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` as a POSIX path relative to the root ('.' for the root itself)."""
    return path.resolve().relative_to(root.resolve()).as_posix() or "."
