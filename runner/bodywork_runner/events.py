"""Run events: one line per state change on stdout, ``::bodywork-event:: {json}``.

Every event carries ``event`` (its type), ``time`` (unix seconds), ``pipeline``, ``stage``,
``attempt`` and ``run_id``. The types, in the order a stage can emit them:

- ``runner.started``: ``version``, ``python``, ``kind``, ``file``
- ``code.ready``: ``commit`` (git) or ``path`` (local folder), ``seconds``
- ``requirements.ready``: ``seconds``, ``cached`` (bool), ``python`` (the stage interpreter)
- ``stage.running``
- ``cell.finished``: ``index`` (1-based code cell), ``total`` (code cells), ``status``
- ``service.port_wanted``: ``port``; a module that binds its own port and may wait for it
  (``port_wait_seconds``): it is built and waits for the port to be free
- ``service.ready``: ``url``
- ``notebook.part``, ``notebook.too_large``: the executed notebook itself, only when the
  spec asks (``emit_notebook``; see ``notebook_events``), just before the stage's end
- ``stage.succeeded``: ``seconds``, ``notebook`` (the executed notebook, when written)
- ``service.stopped``
- ``stage.failed``: ``reason`` (one of :data:`FAILURE_REASONS`), ``message``; for a failing
  cell also ``cell`` (1-based code cell, the execution count when all cells ran in order),
  ``ename``, ``evalue`` and ``traceback`` (plain text); ``notebook`` when written

Everything else the runner and the stage print is free-text log. Output of the stage
that would look like an event line is indented by one space, so it cannot pass for one.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any, Final, TextIO

EVENT_PREFIX: Final = "::bodywork-event::"

FAILURE_REASONS: Final = (
    "error",
    "exit",
    "timeout",
    "kernel_died",
    "terminated",
    "bad_input",
    "unreachable",
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes."""
    return _ANSI.sub("", text)


def format_event(event: str, **fields: Any) -> str:
    """The event line for ``event`` with ``fields`` (no trailing newline)."""
    payload = {"event": event, "time": time.time(), **fields}
    return f"{EVENT_PREFIX} {json.dumps(payload, default=str)}"


def parse_event(line: str) -> dict[str, Any] | None:
    """The event in one line of runner output, or ``None`` when the line is log text."""
    line = line.rstrip("\r\n")
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        payload = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    return payload


class Emitter:
    """Writes events for one stage attempt; safe to call from any thread."""

    def __init__(
        self,
        *,
        pipeline: str = "",
        stage: str = "",
        attempt: int = 0,
        run_id: str = "",
        stream: TextIO | None = None,
    ) -> None:
        self._context = {"pipeline": pipeline, "stage": stage, "attempt": attempt, "run_id": run_id}
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = format_event(event, **self._context, **fields)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class LogWriter:
    """A text stream that passes stage output on to ``target``, neutralising fake events.

    A line of stage output that starts with the event prefix gets one leading space.
    Thread-safe; accepts text in any chunks (a prefix split across two chunks passes).
    """

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._at_line_start = True
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if not text:
            return 0
        with self._lock:
            pieces = text.splitlines(keepends=True)
            for i, piece in enumerate(pieces):
                at_start = self._at_line_start if i == 0 else True
                if at_start and piece.startswith(EVENT_PREFIX):
                    pieces[i] = " " + piece
            self._at_line_start = text.endswith(("\n", "\r"))
            self._target.write("".join(pieces))
            self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()
