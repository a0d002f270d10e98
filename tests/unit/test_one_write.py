"""A response's head goes out with its body (runner/bodywork_runner/one_write.py):
over a real loopback connection, with the server side's writes recorded on their way to
its real transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bodywork_runner.one_write import OneWrite

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"


class Recorded:
    """The server side's transport, its writes recorded (what reaches the socket)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.calls: list[tuple[str, list[bytes]]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", [data]))
        self.transport.write(data)

    def writelines(self, parts: Any) -> None:
        parts = list(parts)
        self.calls.append(("writelines", parts))
        self.transport.writelines(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def _served(answer: Callable[[OneWrite], Awaitable[None]]) -> tuple[bytes, Recorded]:
    """What a client reads from a server whose connection answers with ``answer``."""

    async def main() -> tuple[bytes, Recorded]:
        recorded: list[Recorded] = []
        answers: list[asyncio.Task[None]] = []

        class Answering(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                recorder = Recorded(transport)  # type: ignore[arg-type]
                recorded.append(recorder)
                loop = asyncio.get_running_loop()
                answers.append(loop.create_task(answer(OneWrite(recorder, loop))))  # type: ignore[arg-type]

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Answering, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        server.close()
        return data, recorded[0]

    return asyncio.run(main())


def test_the_head_and_the_body_go_out_in_one_send() -> None:
    async def answer(transport: OneWrite) -> None:
        transport.write(HEAD)
        transport.write(b"body")
        transport.close()

    data, recorded = _served(answer)
    assert data == HEAD + b"body"
    assert recorded.calls == [("writelines", [HEAD, b"body"])]


def test_a_streamed_answers_head_goes_out_before_its_first_chunk() -> None:
    async def answer(transport: OneWrite) -> None:
        transport.write(HEAD)
        await asyncio.sleep(0.05)  # the first chunk is not ready yet
        transport.write(b"bo")
        transport.write(b"dy")
        transport.close()

    data, recorded = _served(answer)
    assert data == HEAD + b"body"
    assert recorded.calls == [("write", [HEAD]), ("write", [b"bo"]), ("write", [b"dy"])]


def test_closing_sends_a_held_head_first() -> None:
    async def answer(transport: OneWrite) -> None:
        transport.write(HEAD)
        assert not transport.is_closing()  # the rest is the transport's
        transport.close()

    data, recorded = _served(answer)
    assert data == HEAD
    assert recorded.calls == [("write", [HEAD])]
