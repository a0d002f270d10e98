"""A build from source that outlives the stage's timeout: stopped by the runner, in one line.

A pin with no wheel for this Python (numpy 1.19 on 3.11: Bodywork's image ran 3.9) makes
the installer build it from source, which can take many minutes. The stage's timeout
counts the install, as Bodywork's did, so without this the engine stops the attempt as a
plain timeout and retries it, and every retry builds the same package again. Instead the
runner follows the installer's output (which package is being built), and when the
stage's deadline passes during a build it stops the installer and says which package it
was: bad input, never retried (the next attempt would build it again).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

#: How often the deadline is looked at once it has passed with no build going on.
_POLL_SECONDS = 1.0
#: A stopped installer's group gets SIGKILL after this long.
_KILL_AFTER_SECONDS = 5.0

# uv: "   Building numpy==1.19.1" ... "      Built numpy==1.19.1"
_UV_BUILDING = re.compile(r"^\s*Building (\S.*?)\s*$")
_UV_BUILT = re.compile(r"^\s*Built (\S.*?)\s*$")
# pip: the steps of building a source distribution, after "Collecting X" / "Processing X"
_PIP_COLLECTING = re.compile(r"^\s*(?:Collecting|Processing) (\S+)")
_PIP_BUILDING = re.compile(
    r"^\s*(?:Installing build dependencies|Getting requirements to build wheel|"
    r"Preparing metadata \(|Building wheel for )"
)
_PIP_BUILT = re.compile(r"^\s*(?:Created wheel for |Successfully built )")


@dataclass(frozen=True)
class Deadline:
    """When the stage's timeout runs out (``time.monotonic()``), and the timeout itself."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float | None) -> Deadline | None:
        return cls(time.monotonic() + seconds, seconds) if seconds else None

    def passed(self) -> bool:
        return time.monotonic() >= self.at


class SourceBuilds:
    """Which package the installer is building from source, read from its output lines."""

    def __init__(self) -> None:
        self.current: str | None = None
        self._collected: str | None = None  # pip: the package its next lines are about

    def feed(self, line: str) -> None:
        if match := _UV_BUILDING.match(line):
            self.current = match.group(1)
        elif _UV_BUILT.match(line) or _PIP_BUILT.match(line):
            self.current = None
        elif match := _PIP_COLLECTING.match(line):
            self._collected, self.current = match.group(1), None
        elif _PIP_BUILDING.match(line):
            self.current = self._collected or "a requirement"


class DeadlineWatch:
    """Stops ``process`` (its process group) when ``deadline`` passes during a build.

    ``stopped`` is then the package that was being built. Use as a context manager around
    reading the installer's output."""

    def __init__(
        self, process: subprocess.Popen[str], deadline: Deadline | None, builds: SourceBuilds
    ) -> None:
        self.process, self.deadline, self.builds = process, deadline, builds
        self.stopped: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> DeadlineWatch:
        if self.deadline is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.process.poll() is None:  # the runner itself is being stopped: take it along
            _stop_group(self.process)

    def _watch(self) -> None:
        assert self.deadline is not None
        while not self._done.wait(max(0.0, self.deadline.at - time.monotonic())):
            if self.builds.current is not None:
                self.stopped = self.builds.current
                _stop_group(self.process)
                return
            if self._done.wait(_POLL_SECONDS):
                return


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the installer's process group (the build under it too), then SIGKILL to
    what is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(_KILL_AFTER_SECONDS)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
