"""A listening socket this replica shares with the other replicas of its service.

On the local target the backend binds the service's declared port and every replica
inherits the socket (its number in ``SHARED_LISTENER_FD``): each replica accepts from it
itself, so no proxy stands between a client and the replica that answers. A replica
accepts only once it is sent ``TAKE_TRAFFIC`` (its version has the port: a new version
waits for the switch); once it stops, it accepts no more and the others, or the next
version, take what waits in the backlog.

One connection is accepted per wake-up: every replica is woken for a new connection, and
one that accepted everything pending at once (as asyncio's own servers do) would take a
burst of connections from the replicas beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType

from bodywork_runner.errors import StageFailed
from bodywork_runner.spec import SHARED_LISTENER_FD, TAKE_TRAFFIC

log = logging.getLogger(__name__)

#: after the process runs out of file descriptors, how long accepting pauses
_PAUSE_SECONDS = 0.1


class SharedPort:
    """The inherited socket, and whether this replica was told to take its connections."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.wanted = False  # TAKE_TRAFFIC came (it may come before the server is up)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._protocol: Callable[[], asyncio.Protocol] | None = None
        self._accepting = False
        self._closed = False
        self._tasks: set[asyncio.Task[object]] = set()

    @classmethod
    def inherited(cls) -> SharedPort | None:
        """The socket named in the environment, if any (taken out of the environment, and
        not inherited further: the notebook's own subprocesses must not hold it)."""
        value = os.environ.pop(SHARED_LISTENER_FD, None)
        if value is None:
            return None
        try:
            sock = socket.socket(fileno=int(value))
            sock.set_inheritable(False)
            sock.setblocking(False)
        except (ValueError, OSError) as exc:
            raise StageFailed(
                "error", f"the service's shared listening socket ({value}) is unusable: {exc}"
            ) from None
        shared = cls(sock)
        signal.signal(TAKE_TRAFFIC, shared._wanted)
        return shared

    def _wanted(self, signum: int, frame: FrameType | None) -> None:
        self.wanted = True

    def serve(
        self, loop: asyncio.AbstractEventLoop, protocol: Callable[[], asyncio.Protocol]
    ) -> None:
        """The server is up: connections go to ``protocol`` once TAKE_TRAFFIC comes."""
        self._loop, self._protocol = loop, protocol
        loop.add_signal_handler(TAKE_TRAFFIC, self._take)
        if self.wanted:
            self._take()

    def close(self) -> None:
        """Accept no more (this copy of the socket goes; the backend keeps the socket)."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(TAKE_TRAFFIC)
            # ignored from now on: the default would end the process while it drains
            signal.signal(TAKE_TRAFFIC, signal.SIG_IGN)
            if self._accepting:
                self._loop.remove_reader(self.sock.fileno())
        self._accepting = False
        self.sock.close()

    def _take(self) -> None:
        self.wanted = True
        if self._accepting or self._closed or self._loop is None:
            return
        self._accepting = True
        self._loop.add_reader(self.sock.fileno(), self._accept)
        log.info("taking connections on the service's port")

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return  # another replica took it
        except OSError as exc:  # out of file descriptors, and the like: pause a moment
            log.warning("cannot accept a connection: %s", exc)
            assert self._loop is not None
            self._loop.remove_reader(self.sock.fileno())
            self._accepting = False
            self._loop.call_later(_PAUSE_SECONDS, self._take)
            return
        conn.setblocking(False)
        assert self._loop is not None and self._protocol is not None
        task = self._loop.create_task(self._connect(conn, self._protocol))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, protocol: Callable[[], asyncio.Protocol]) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(protocol, sock=conn)
        except OSError:
            conn.close()  # the client left before its connection was set up
