"""Who listens on a TCP port: a bind probe, and the listener named from ``/proc``.

A port is free when we can bind it (``SO_REUSEADDR``, so a connection still in
TIME_WAIT does not count). Who holds it is read from ``/proc/net/tcp`` and
``/proc/net/tcp6`` (the listening socket's inode and owner) and from the
``/proc/PID/fd`` links (which process has that socket open). Nothing here raises:
what cannot be read is simply not known (another user's processes, no ``/proc``).

``/proc/net`` is the reading process's network namespace, so in a pod it lists the
pod's own sockets, and on this machine the machine's.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's ``st`` column
_COMMAND_CHARS = 120


@dataclass(frozen=True)
class Listener:
    """A socket listening on ``port``: its inode, its owner and, when visible, its process."""

    port: int
    inode: int
    uid: int | None = None
    pid: int | None = None
    command: str | None = None

    def describe(self) -> str:
        """``pid 4242 (python -m http.server 5000)``, or what is known of it."""
        if self.pid is not None:
            return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"
        if self.uid is not None and self.uid != os.getuid():
            return f"a process of {_user(self.uid)}, which this user cannot see"
        return "another program"


def port_free(port: int, host: str = "0.0.0.0") -> bool:
    """Whether a server could listen on ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def parse_listening(text: str) -> list[tuple[int, int, int]]:
    """``(port, uid, inode)`` of each listening socket in a ``/proc/net/tcp`` text."""
    found: list[tuple[int, int, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        try:
            port = int(fields[1].rsplit(":", 1)[1], 16)
            found.append((port, int(fields[7]), int(fields[9])))
        except (IndexError, ValueError):
            continue
    return found


def listeners(port: int) -> list[Listener]:
    """The sockets listening on ``port`` (any address), with their processes when visible."""
    sockets = {inode: uid for _, uid, inode in _listening_on(port)}  # inode -> uid
    if not sockets:
        return []
    owners = _socket_owners(set(sockets), _all_pids())
    return [
        Listener(port, inode, uid, owners.get(inode), _command(owners.get(inode)))
        for inode, uid in sorted(sockets.items())
    ]


def holder(port: int) -> Listener | None:
    """Who listens on ``port``: the first listener found, or None when nothing is seen."""
    found = listeners(port)
    return next((f for f in found if f.pid is not None), found[0] if found else None)


def listening_in_tree(port: int, root_pid: int) -> bool | None:
    """Whether a socket listening on ``port`` belongs to ``root_pid`` or its descendants.

    True: one does. False: something listens there, and none of it is ours. None:
    ``/proc`` shows no listener on the port, so this cannot tell (the caller decides).
    """
    inodes = {inode for _, _, inode in _listening_on(port)}
    if not inodes:
        return None
    tree = process_tree(root_pid)
    return bool(_socket_owners(inodes, tree))


def process_tree(root_pid: int) -> set[int]:
    """``root_pid`` and every process below it: by parent, or by the session it leads."""
    children: dict[int, list[int]] = {}
    tree = {root_pid}
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is None:
            continue
        parent, session = stat
        children.setdefault(parent, []).append(pid)
        if session == root_pid:  # a child that left its parent stays in its session
            tree.add(pid)
    todo = list(tree)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return tree


def _listening_on(port: int) -> Iterator[tuple[int, int, int]]:
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            text = (PROC / "net" / name).read_text(encoding="ascii", errors="replace")
            yield from (e for e in parse_listening(text) if e[0] == port and e[2])


def _all_pids() -> list[int]:
    with contextlib.suppress(OSError):
        return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]
    return []


def _socket_owners(inodes: set[int], pids: Iterable[int]) -> dict[int, int]:
    """inode -> the first of ``pids`` holding that socket open."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    owners: dict[int, int] = {}
    for pid in sorted(pids):
        try:
            fds = list((PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            inode = wanted.get(target)
            if inode is not None and inode not in owners:
                owners[inode] = pid
        if len(owners) == len(wanted):
            break
    return owners


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of ``pid``."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after its last ')'
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[3])
    except (IndexError, ValueError):
        return None


def _command(pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode("utf-8", errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return None
    words[0] = Path(words[0]).name
    text = " ".join(" ".join(words).split())  # one line, whatever the arguments hold
    return text if len(text) <= _COMMAND_CHARS else text[: _COMMAND_CHARS - 3] + "..."


def _user(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"uid {uid}"
