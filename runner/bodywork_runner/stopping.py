"""Stopping a stage: SIGTERM/SIGINT and the stage timeout, seen by every part of the runner."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from bodywork_runner.errors import Reason, StageFailed


class Stopper:
    """Records why the stage must stop; raises in the main thread while that is safe.

    Outside :meth:`deferred`, a signal raises :class:`StageFailed` (reason ``terminated``)
    in the main thread, which unwinds whatever the runner was doing (a git fetch, an
    install). Inside it, the signal only sets :attr:`event`, and the code that runs the
    stage stops the stage itself (interrupts the kernel, forwards the signal).
    """

    def __init__(self) -> None:
        self.reason: Reason | None = None
        self.message = ""
        self.event = threading.Event()
        self._raise = True

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def request(self, reason: Reason, message: str) -> bool:
        """Ask the stage to stop; ``False`` when a stop was already asked for."""
        if self.reason is not None:
            return False
        self.reason, self.message = reason, message
        self.event.set()
        return True

    def failure(self) -> StageFailed:
        return StageFailed(self.reason or "terminated", self.message or "the stage was stopped")

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._raise = False
        try:
            yield
        finally:
            self._raise = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        first = self.request("terminated", f"the stage was stopped ({name})")
        if first and self._raise:
            raise self.failure()
