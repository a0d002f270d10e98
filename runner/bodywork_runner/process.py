"""A child process whose output streams into the runner's log, line by line."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TextIO

from bodywork_runner.events import LogWriter

#: The child's last stderr lines kept to say why it failed (all of them go to the log).
STDERR_TAIL_LINES = 200
#: The longest exception line quoted in a failure message.
_EXCEPTION_CHARS = 240


#: Linux's prctl option: a signal the child gets when the thread that started it ends
_PR_SET_PDEATHSIG = 1
try:  # loaded before any fork: the child only calls it
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def _end_with(parent: int) -> Callable[[], None]:
    """In the child, before its program starts: SIGKILL once ``parent`` (this runner) is
    gone. The child has a session of its own, so a force-killed runner's group kill does
    not reach it; without this a module service would outlive its runner, holding its
    port. A parent already gone by then: the child ends at once."""

    def set_death_signal() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


class Child:
    """``command`` in its own session (so a stop reaches its whole process group), ended
    with the runner."""

    def __init__(self, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_end_with(os.getpid()),
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._pumps = [
            threading.Thread(target=_pump, args=(self.process.stdout, sys.stdout), daemon=True),
            threading.Thread(
                target=_pump, args=(self.process.stderr, sys.stderr, self.stderr_tail), daemon=True
            ),
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

    def why(self) -> str:
        """``: NAME: MESSAGE`` of the Python exception the child died of, or ``""``."""
        line = exception_line(list(self.stderr_tail))
        return f": {line}" if line else ""


def _pump(source: IO[bytes], target: TextIO, tail: collections.deque[str] | None = None) -> None:
    writer = LogWriter(target)
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        writer.write(line)
        if tail is not None:
            tail.append(line)
    source.close()


def exception_line(lines: list[str]) -> str | None:
    """The last line of the last Python traceback in ``lines`` (``requests.exceptions.
    ConnectionError: ...``), shortened to one readable line; None without a traceback."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if not starts:
        return None
    after = [line.rstrip() for line in lines[starts[-1] + 1 :]]
    # the exception is the first line at the margin after the (indented) frames
    found = [line for line in after if line and not line[0].isspace()]
    if not found:
        return None
    line = found[0]
    if len(line) > _EXCEPTION_CHARS:
        half = _EXCEPTION_CHARS // 2
        line = f"{line[: half - 2]} ... {line[-(half - 3) :]}"
    return line


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
