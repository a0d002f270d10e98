"""Reading a stage's log from a byte offset, so a client can resume where it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Lines the runner writes for the supervisor, not for people.
EVENT_PREFIX = "::bodywork-event::"
CHUNK = 1 << 20


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int
    next_offset: int
    eof: bool  # nothing more in the file right now


def read_from(path: Path | None, offset: int, finished: bool, limit: int = CHUNK) -> LogChunk:
    """Whole lines from byte ``offset`` on (a trailing partial line waits until the stage ends)."""
    if path is None or not path.is_file():
        return LogChunk("", offset, offset, True)
    size = path.stat().st_size
    start = min(max(offset, 0), size)
    with path.open("rb") as handle:
        handle.seek(start)
        raw = handle.read(limit)
    end = start + len(raw)
    if end < size or not finished:
        cut = raw.rfind(b"\n") + 1
        if cut > 0:
            raw, end = raw[:cut], start + cut
        elif end < size:
            pass  # one line longer than the limit: give it in pieces
        else:
            raw, end = b"", start
    text = raw.decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines(True) if not ln.startswith(EVENT_PREFIX)]
    return LogChunk("".join(lines), start, end, end >= size)
