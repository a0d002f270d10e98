"""A TCP proxy on a service's declared port, balancing its replicas round-robin.

The supervisor swaps the replica list only once a new version is ready, so
traffic moves to a new version only when it is healthy; connections already
open finish on the old replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket

from bodywork_jupyter.errors import BadInputError

_CHUNK = 1 << 16


class Proxy:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._backends: list[int] = []
        self._cycle: itertools.cycle[int] | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def backends(self) -> list[int]:
        return list(self._backends)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise BadInputError(
                f"port {self.port} is already in use ({exc.strerror}) - stop what uses it, or "
                "give the service another port"
            ) from None
        sock.listen(512)
        sock.setblocking(False)
        self._server = await asyncio.start_server(self._handle, sock=sock)

    def set_backends(self, ports: list[int]) -> None:
        self._backends = list(ports)
        self._cycle = itertools.cycle(self._backends) if ports else None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cycle = self._cycle
        if cycle is None:
            writer.close()
            return
        upstream_writer = None
        for _ in range(len(self._backends)):
            port = next(cycle)
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue  # a replica that just died: try the next one
        if upstream_writer is None:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )
        for stream in (writer, upstream_writer):
            with contextlib.suppress(Exception):
                stream.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        # pass the half-close on: the other direction may still be sending
        with contextlib.suppress(Exception):
            writer.write_eof()
