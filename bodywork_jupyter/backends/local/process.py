"""One runner process on this machine: started, logged, followed, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bodywork_jupyter.backends.local import forking
from bodywork_runner.events import parse_event
from bodywork_runner.spec import SHARED_LISTENER_FD, TAKE_TRAFFIC

EventCallback = Callable[[dict[str, Any]], None]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the supervisor dies, so nothing is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


class RunnerProcess:
    """``python -m bodywork_runner SPEC``, its output appended to a log file.

    ``shared_fd``: a listening socket the process inherits (a notebook service replica's
    shared port, ``listener.py``); it accepts from it once ``take_traffic`` is called.
    """

    def __init__(
        self,
        spec_path: Path,
        log_path: Path,
        env: dict[str, str],
        cwd: Path,
        shared_fd: int | None = None,
    ) -> None:
        self.spec_path = spec_path
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.shared_fd = shared_fd
        #: told to take the shared socket's traffic (sent once per process)
        self.taking_traffic = False
        self.events: list[dict[str, Any]] = []
        self.returncode: int | None = None
        self._proc: asyncio.subprocess.Process | forking.ForkedProcess | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: list[EventCallback] = []
        self._changed = asyncio.Event()

    def on_event(self, callback: EventCallback) -> None:
        self._listeners.append(callback)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = self.env
        fds: list[int] = []
        if self.shared_fd is not None:
            env = {**env, SHARED_LISTENER_FD: str(self.shared_fd)}
            fds.append(self.shared_fd)
        # a batch notebook's runner is forked from a warm one (forking.py) when it can be
        forked = (
            None
            if fds
            else await forking.start_runner(self.spec_path, env, self.cwd, limit=1 << 20)
        )
        self._proc = forked or await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bodywork_runner",
            str(self.spec_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=self.cwd,
            preexec_fn=_die_with_parent,
            pass_fds=fds,
            limit=1 << 20,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with self.log_path.open("ab", buffering=0) as log:
            while True:
                line = await self._proc.stdout.readline()
                if not line:
                    break
                # a full or read-only state folder loses the line, not the process: its
                # events are still followed, and its output pipe never fills up
                with contextlib.suppress(OSError):
                    log.write(line)
                event = parse_event(line.decode("utf-8", errors="replace"))
                if event is not None:
                    self.events.append(event)
                    for callback in self._listeners:
                        callback(event)
                    self._changed.set()
        self.returncode = await self._proc.wait()
        self._changed.set()

    async def wait(self) -> int:
        assert self._reader is not None
        await asyncio.shield(self._reader)
        assert self.returncode is not None
        return self.returncode

    async def wait_for_event(self, *types: str) -> dict[str, Any] | None:
        """The first event of one of ``types``, or None if the process exits first."""
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("event") in types:
                    return event
            seen = len(self.events)
            if self.returncode is not None:
                return None
            self._changed.clear()
            await self._changed.wait()

    def last_event(self, type_: str) -> dict[str, Any] | None:
        found: dict[str, Any]
        for found in reversed(self.events):
            if found.get("event") == type_:
                return found
        return None

    def take_traffic(self) -> bool:
        """Tell a ready replica to accept from the shared socket; whether it was told
        (not before its ``service.ready``: until then the signal would end it)."""
        proc = self._proc
        if self.shared_fd is None or proc is None or self.returncode is not None:
            return False
        if self.taking_traffic:
            return True
        if self.last_event("service.ready") is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(TAKE_TRAFFIC)
            self.taking_traffic = True
        return self.taking_traffic

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM to the runner (it stops its kernel cleanly), SIGKILL to the group later."""
        proc = self._proc
        if proc is None or self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while self.returncode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await self.wait()
