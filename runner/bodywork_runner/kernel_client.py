"""The client of a stage's kernel: jupyter_client's, ready up to 0.3 s sooner.

Two waits of jupyter_client's are most of the time between a kernel's start and its
first cell on a small machine:
- Its sockets connect before the kernel has bound its own (Unix sockets that do not
  exist yet) and zmq tries again every 0.1 s; here every 0.01 s.
- ``wait_for_ready`` ends by reading IOPub until 0.2 s pass without a message, to drop
  the status messages of its ``kernel_info`` requests. This client stops when the kernel
  reports itself idle after the request it answered, the last of those messages:
  nothing else can be in IOPub yet, and nbclient reads only its own requests' messages.
"""

from __future__ import annotations

import math
import time
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from traitlets import default

#: how long IOPub may stay silent before a ``kernel_info`` request is sent again
#: (jupyter_client's figure: IOPub not connected yet)
IOPUB_WAIT_SECONDS = 0.2
#: how soon a socket tries again to reach a kernel that is not listening yet
RECONNECT_MILLISECONDS = 10


class ReadyKernelClient(AsyncKernelClient):
    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        context: zmq.asyncio.Context = super()._context_default()
        context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MILLISECONDS)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """As jupyter_client's: ask for kernel_info until shell and IOPub both answer."""
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        while True:
            self.kernel_info()
            reply = await self._shell_reply()
            if (
                reply is not None
                and reply["msg_type"] == "kernel_info_reply"
                and await self._idle_after(reply["parent_header"].get("msg_id"))
            ):
                self._handle_kernel_info_reply(reply)
                return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    async def _shell_reply(self) -> dict[str, Any] | None:
        try:
            reply: dict[str, Any] = await self.shell_channel.get_msg(timeout=1)
        except Empty:
            return None
        return reply

    async def _idle_after(self, request_id: str | None) -> bool:
        """True once IOPub brings the idle status of ``request_id``; False when it is
        silent for IOPUB_WAIT_SECONDS (not connected yet: ask again)."""
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=IOPUB_WAIT_SECONDS)
            except Empty:
                return False
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == request_id
            ):
                return True
