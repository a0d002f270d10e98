"""The cache of stage environments on disk: its layout, its locks, listing and clearing.

::

    CACHE/envs/<key>/                       a virtual environment
    CACHE/envs/<key>/.bodywork-complete     JSON: what it holds; present once it is whole
    CACHE/envs/<key>.lock                   flock: exclusive while it is built or removed,
                                            shared for as long as a stage uses it

Because a stage holds its environment's lock (shared) until it ends, ``clear`` removes
only what no stage is using: a service keeps its environment however long it serves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MARKER = ".bodywork-complete"


def envs_dir(cache_dir: Path) -> Path:
    return cache_dir / "envs"


class EnvLock:
    """The lock file of one environment. Taking it checks the file is still the one at its
    path (``clear`` removes lock files), so two holders never lock different files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def take(self, *, exclusive: bool, wait: bool) -> bool:
        """Lock it (shared or exclusive); False when ``wait`` is off and it is held."""
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if self._file is not None:  # a change of mode on the file already held
            try:
                fcntl.flock(self._file, mode | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return False
            return True
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a")
            try:
                fcntl.flock(handle, mode | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.close()
                return False
            try:
                same = self.path.stat().st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._file = handle
                return True
            handle.close()  # removed (and maybe made again) while we waited: again

    def keep_across_exec(self) -> None:
        """The runner re-executes itself in the environment: the lock goes with it."""
        if self._file is not None:
            os.set_inheritable(self._file.fileno(), True)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """Remove the lock file while holding it (exclusively)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def lock_of(env_dir: Path) -> EnvLock:
    return EnvLock(env_dir.with_name(env_dir.name + ".lock"))


@dataclass(frozen=True)
class CachedEnvironment:
    key: str
    path: Path
    size_bytes: int
    complete: bool
    in_use: bool  # a stage holds it, or it is being built
    last_used: float | None  # the marker's time: set when built, touched on every use
    about: dict[str, Any] = field(default_factory=dict)  # the marker's JSON


def list_environments(cache_dir: Path) -> list[CachedEnvironment]:
    """Every environment in ``cache_dir``, most recently used first."""
    found = [_describe(path) for path in _env_dirs(cache_dir)]
    return sorted(found, key=lambda e: e.last_used or 0.0, reverse=True)


@dataclass(frozen=True)
class Cleared:
    removed: list[CachedEnvironment]
    in_use: list[CachedEnvironment]  # left alone: a stage holds them

    @property
    def freed_bytes(self) -> int:
        return sum(e.size_bytes for e in self.removed)


def clear(cache_dir: Path, keys: tuple[str, ...] = ()) -> Cleared:
    """Remove the environments no stage is using (those whose key starts with one of
    ``keys``, when given); the ones in use stay."""
    removed: list[CachedEnvironment] = []
    busy: list[CachedEnvironment] = []
    for path in _env_dirs(cache_dir):
        if keys and not path.name.startswith(keys):
            continue
        described = _describe(path)
        lock = lock_of(path)
        if not lock.take(exclusive=True, wait=False):
            busy.append(described)
            continue
        try:
            # the marker first: a removal cut short leaves an incomplete env, rebuilt on use
            with contextlib.suppress(FileNotFoundError):
                (path / MARKER).unlink()
            shutil.rmtree(path, ignore_errors=True)
            lock.remove()
        finally:
            lock.release()
        removed.append(described)
    _remove_stray_locks(cache_dir)
    return Cleared(removed, busy)


def touch(env_dir: Path) -> None:
    """Mark the environment used now (``list`` shows it)."""
    with contextlib.suppress(OSError):
        os.utime(env_dir / MARKER)


def _env_dirs(cache_dir: Path) -> Iterator[Path]:
    root = envs_dir(cache_dir)
    if not root.is_dir():
        return
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            yield path


def _remove_stray_locks(cache_dir: Path) -> None:
    """Lock files whose environment is gone, when nobody holds them."""
    root = envs_dir(cache_dir)
    if not root.is_dir():
        return
    for path in root.glob("*.lock"):
        if path.with_suffix("").exists():
            continue
        lock = EnvLock(path)
        if lock.take(exclusive=True, wait=False):
            try:
                if not path.with_suffix("").exists():
                    lock.remove()
            finally:
                lock.release()


def _describe(path: Path) -> CachedEnvironment:
    marker = path / MARKER
    about: dict[str, Any] = {}
    last_used: float | None = None
    if marker.is_file():
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(marker.read_text(encoding="utf-8"))
            about = loaded if isinstance(loaded, dict) else {}
        with contextlib.suppress(OSError):
            last_used = marker.stat().st_mtime
    lock = lock_of(path)
    in_use = not lock.take(exclusive=True, wait=False)
    lock.release()
    return CachedEnvironment(
        key=path.name,
        path=path,
        size_bytes=_disk_usage(path),
        complete=marker.is_file(),
        in_use=in_use,
        last_used=last_used,
        about=about,
    )


def _disk_usage(path: Path) -> int:
    """Bytes on disk, each hard-linked file once (uv links files from its own cache)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))  # noqa: PTH118 - os.walk's strings
            except OSError:
                continue
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total
