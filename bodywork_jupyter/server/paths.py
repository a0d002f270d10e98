"""Keeping every path a client sends inside the Jupyter server's root.

A path is refused (403) when, after URL-decoding until nothing changes, it is
absolute, holds a NUL, or resolves (symlinks followed) outside the root; one that
no filesystem could open (a name over 255 bytes, a path over 1024) is a 400, found
before the filesystem is asked.

A ``file://`` URL is read as git reads it (``file_url_inside_root``): decoded once,
fragment and query kept as part of the path, the host ignored, and the repository
found as git's upload-pack finds it (``P/.git``, ``P``, ``P.git/.git``, ``P.git``; a
``.git`` file's ``gitdir:``; the ``commondir`` and alternates it shares objects with).
Everything git could read that way must lie inside the root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, unquote_to_bytes

from bodywork_jupyter.server.errors import ApiError, ForbiddenError, NotFoundError

_DRIVE = re.compile(r"^[A-Za-z]:")

#: The longest file or folder name (Linux's NAME_MAX), and the longest path under the root.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
FILE_URL = "file://"
#: Where git's upload-pack looks for a repository at P, in this order (path.c enter_repo).
_GIT_SUFFIXES = ("/.git", "", ".git/.git", ".git")


def decode(text: str) -> str:
    """``text`` URL-decoded until stable (so double-encoded ``%252e%252e`` is seen as ``..``)."""
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    raise ForbiddenError("the path is encoded too many times")


def check_bounds(text: str) -> None:
    """A 400 when no filesystem would open ``text``, before one is asked (ENAMETOOLONG)."""
    shown = text if len(text) <= 60 else text[:60] + "..."
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError:
        raise ApiError(f"{shown!r}: not a file name (it holds a lone surrogate)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise ApiError(f"{shown}: the path is over {MAX_PATH_BYTES} bytes - give a shorter one")
    if any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise ApiError(
            f"{shown}: a file or folder name is over {MAX_NAME_BYTES} bytes - no filesystem "
            "here holds one"
        )


def inside_root(root: Path, relative: str, must_exist: bool = True) -> Path:
    """The real path of ``relative`` under ``root``; ForbiddenError when it leaves it."""
    text = decode(relative).replace("\\", "/")
    if "\x00" in text:
        raise ForbiddenError("the path holds a NUL character")
    if text.startswith("/") or _DRIVE.match(text):
        raise ForbiddenError(f"{text}: absolute paths are refused - give a path inside the root")
    if ".." in PurePosixPath(text).parts:
        raise ForbiddenError(f"{text}: '..' is refused - give a path inside the server's root")
    check_bounds(text)
    root = root.resolve()
    target = _resolve(root / text, text)
    if not _within(root, target):
        raise ForbiddenError(f"{text}: leads outside the server's root (a symlink?)")
    if must_exist and not _exists(target, text):
        raise NotFoundError(f"{text or '.'}: no such file or folder under the server's root")
    return target


def file_url_inside_root(root: Path, url: str) -> None:
    """ForbiddenError unless every place git would read ``url``'s repository from lies
    inside ``root``; NotFoundError when there is nothing to read, ApiError when the URL
    names no path at all."""
    path = git_file_path(url)
    if "\x00" in path:
        raise ForbiddenError(f"{url}: the URL holds a NUL character")
    check_bounds(path.lstrip("/"))
    root = root.resolve()
    places = [path, *_repository_places(path)]
    for place in places:
        if not _within(root, _resolve(Path(place), url)):
            raise ForbiddenError(
                f"{url}: a file:// URL must point inside the root (git would open {place})"
            )
    if len(places) == 1:
        raise NotFoundError(f"{url}: no repository at {path} - check the URL")


def git_file_path(url: str) -> str:
    """The local path git opens for a ``file://`` URL (connect.c parse_connect_url):
    percent-decoded once (``%23`` is ``#``), then everything from the first ``/`` after
    the host; ``#...`` and ``?...`` stay part of the path, the host is ignored."""
    rest = os.fsdecode(unquote_to_bytes(url.removeprefix(FILE_URL)))
    host_end = 0
    bracket = rest.find("@[")
    start = bracket + 1 if bracket >= 0 else 0
    if rest[start : start + 1] == "[" and "]" in rest[start:]:
        host_end = rest.index("]", start)  # an IPv6 host may hold a '/'
    slash = rest.find("/", host_end)
    if slash < 0:
        raise ApiError(f"{url}: the URL names no repository - give file:///path/to/repo")
    path = rest[slash:]
    stripped = path.rstrip("/")
    return stripped or "/"


def _repository_places(path: str) -> Iterator[str]:
    """Every existing path git may read ``path``'s repository from (see the module doc)."""
    for suffix in _GIT_SUFFIXES:
        candidate = Path(path + suffix)
        if not _exists(candidate, path):
            continue
        yield str(candidate)
        gitdir = candidate
        if candidate.is_file():  # a ".git file": "gitdir: WHERE"
            pointer = (_read(candidate).partition("gitdir:")[2].splitlines() or [""])[0].strip()
            if not pointer:
                continue
            gitdir = candidate.parent / pointer
            yield str(gitdir)
        for shared in _shared_places(gitdir):
            yield str(shared)


def _shared_places(gitdir: Path) -> Iterator[Path]:
    """A repository's ``commondir`` (a worktree's main repository) and alternates."""
    common = _read(gitdir / "commondir").strip()
    if common:
        yield gitdir / common
    objects = (gitdir / common) / "objects" if common else gitdir / "objects"
    for line in _read(objects / "info" / "alternates").splitlines():
        if line.strip() and not line.startswith("#"):
            yield objects / line.strip()


def _read(path: Path, size: int = 1 << 16) -> str:
    """The start of a small regular file ('' if it is none: a FIFO would block)."""
    try:
        if not path.is_file():
            return ""
        with path.open("rb") as handle:
            return handle.read(size).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def _resolve(path: Path, shown: str) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError) as exc:
        raise ApiError(f"{shown}: cannot be followed ({exc}) - give another path") from None


def _exists(path: Path, shown: str) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        raise ApiError(f"{shown}: cannot be read ({exc}) - give another path") from None


def _within(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` as a POSIX path relative to the root ('.' for the root itself)."""
    return path.resolve().relative_to(root.resolve()).as_posix() or "."
