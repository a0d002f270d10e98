"""A response's head and body in one send (the runner's HTTP protocol gives each request's
cycle this transport: ``limits``)."""

from __future__ import annotations

import asyncio
from typing import Any


class OneWrite:
    """A response's transport that sends its head with the first part of its body.

    uvicorn writes a response's head and its body apart: two sends, two TCP segments for
    the client to read, for every answer of a few hundred bytes. The first write (the
    head) is held until the next one, or the loop's next turn (a streamed answer's head
    goes out when it is ready, not with its first chunk); the rest is the transport's.
    """

    __slots__ = ("_first", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._first = True
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._first:
            self._first, self._held = False, data
            self._loop.call_soon(self.flush)
        elif self._held is not None:
            held, self._held = self._held, None
            self._transport.writelines((held, data))
        else:
            self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
