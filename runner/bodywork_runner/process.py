"""A child process whose output streams into the runner's log, line by line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TextIO

from bodywork_runner.events import LogWriter


class Child:
    """``command`` in its own session (so a stop reaches its whole process group)."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._pumps = [
            threading.Thread(target=_pump, args=(self.process.stdout, sys.stdout), daemon=True),
            threading.Thread(target=_pump, args=(self.process.stderr, sys.stderr), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for pump in self._pumps:
            pump.join(timeout=2)
        return code

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds; the exit code."""
        self.signal_group(signal.SIGTERM)
        code = self.wait(grace)
        if code is None:
            self.signal_group(signal.SIGKILL)
            code = self.process.wait()
        # a child that exited on SIGTERM may leave others in its group behind
        self.signal_group(signal.SIGKILL)
        return code


def _pump(source: IO[bytes], target: TextIO) -> None:
    writer = LogWriter(target)
    for raw in iter(source.readline, b""):
        writer.write(raw.decode("utf-8", errors="replace"))
    source.close()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
