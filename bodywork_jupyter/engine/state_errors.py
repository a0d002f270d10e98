"""What a refused write to the state folder means: full, or read-only (one place reads it).

SQLite and the OS say the same few things in several ways ("database or disk is full",
ENOSPC, "attempt to write a readonly database", EROFS, "unable to open database file", a
"disk I/O error" that was really a full disk); every write to the state folder goes
through ``translated``, which turns them into a ``StateFolderFullError`` (exit 3) or a
``StateFolderReadOnlyError`` (exit 2) naming the folder and what to do.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bodywork_jupyter.errors import (
    StateFolderError,
    StateFolderFullError,
    StateFolderReadOnlyError,
)

FULL_ADVICE = (
    "free space there (or raise the quota), or point BODYWORK_STATE_DIR at a folder with room"
)
READ_ONLY_ADVICE = (
    "make it writable, or point BODYWORK_STATE_DIR at a folder you may write"
    " (its history can still be read)"
)

_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def full(folder: Path, reason: str = "no space left on device") -> StateFolderFullError:
    return StateFolderFullError(folder, reason, FULL_ADVICE)


def read_only(folder: Path, reason: str = "read-only file system") -> StateFolderReadOnlyError:
    return StateFolderReadOnlyError(folder, reason, READ_ONLY_ADVICE)


@contextmanager
def translated(folder: Path) -> Iterator[None]:
    """Writes to ``folder`` inside: a refusal of the folder's becomes a StateFolderError."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        error = refusal(exc, folder)
        if error is None:
            raise
        raise error from exc


def refusal(exc: BaseException, folder: Path) -> StateFolderError | None:
    """The state-folder error that ``exc`` is, or None if it is no fault of the folder."""
    if isinstance(exc, StateFolderError):
        return exc
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = os.strerror(exc.errno).lower()
        if exc.errno in _FULL:
            return full(folder, reason)
        if exc.errno in _READ_ONLY:
            return read_only(folder, reason)
        if exc.errno == errno.EIO:
            return why_not_writable(folder) or full(folder, reason)
        return None
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    name = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc)
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return full(folder)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return why_not_writable(folder) or read_only(folder, "the database is read-only")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")) or text in (
        "unable to open database file",
        "disk I/O error",
    ):
        # SQLite does not say why: the folder does
        return why_not_writable(folder) or full(folder, text)
    return None


def why_not_writable(folder: Path) -> StateFolderError | None:
    """Why ``folder`` (or the nearest folder above it that exists) cannot be written, as far
    as the file system tells: read-only, no room, or not this user's to write."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        stat = os.statvfs(existing)
    except OSError:
        return None
    if stat.f_flag & os.ST_RDONLY:
        return read_only(folder)
    if stat.f_bavail == 0 or (stat.f_files and stat.f_favail == 0):
        return full(folder)
    if not os.access(existing, os.W_OK):
        return read_only(folder, "permission denied")
    return None


def check_writable(folder: Path, *files: Path) -> None:
    """Raise StateFolderReadOnlyError unless ``folder`` (and ``files`` that exist) may be
    written: opened otherwise, SQLite would quietly open the store read-only."""
    error = why_not_writable(folder)
    if isinstance(error, StateFolderReadOnlyError):
        raise error
    for path in files:
        if path.exists() and not os.access(path, os.W_OK):
            raise read_only(folder, f"{path.name}: permission denied")
