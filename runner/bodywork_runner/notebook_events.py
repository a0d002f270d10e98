"""The executed notebook as run events, for a stage whose files go when it ends.

A stage pod writes its executed notebook to an emptyDir that goes with the pod, and the
pod has no credentials to put it anywhere. When its spec asks (``emit_notebook``), the
runner sends the notebook in its own event stream instead, once it is written: gzipped,
base64-encoded and cut into ``notebook.part`` events (``part``, 0-based, of ``parts``;
``bytes`` and ``sha256`` of the whole gzip; ``data``: this part's base64 text), so no
event line is longer than about ``PART_CHARS``. A notebook whose gzip is larger than
``MAX_GZIP_BYTES`` is one ``notebook.too_large`` event (``bytes``) instead.

Whoever reads the events puts the parts back together with ``NotebookParts``. Both
sides live here, so they cannot disagree about the format.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
from pathlib import Path
from typing import Any, Final

from bodywork_runner.events import Emitter

log = logging.getLogger(__name__)

NOTEBOOK_PART: Final = "notebook.part"
NOTEBOOK_TOO_LARGE: Final = "notebook.too_large"
NOTEBOOK_EVENTS: Final = frozenset({NOTEBOOK_PART, NOTEBOOK_TOO_LARGE})

#: base64 characters per event: every line stays far below any log reader's chunk
PART_CHARS: Final = 32 * 1024
#: The largest gzip sent: what a Kubernetes ConfigMap (1 MiB at most) can hold, with room.
MAX_GZIP_BYTES: Final = 900 * 1024


def compress(content: bytes) -> bytes:
    """``content`` gzipped, the same bytes every time (no timestamp in the header)."""
    return gzip.compress(content, compresslevel=9, mtime=0)


def notebook_events(
    content: bytes, *, part_chars: int = PART_CHARS, max_bytes: int = MAX_GZIP_BYTES
) -> list[tuple[str, dict[str, Any]]]:
    """The events (type, fields) that carry ``content``, the executed notebook."""
    if part_chars < 4:
        raise ValueError("a part must hold at least 4 base64 characters")
    packed = compress(content)
    if len(packed) > max_bytes:
        return [(NOTEBOOK_TOO_LARGE, {"bytes": len(packed), "limit": max_bytes})]
    text = base64.b64encode(packed).decode("ascii")
    pieces = [text[i : i + part_chars] for i in range(0, len(text), part_chars)] or [""]
    digest = hashlib.sha256(packed).hexdigest()
    return [
        (
            NOTEBOOK_PART,
            {"part": i, "parts": len(pieces), "bytes": len(packed), "sha256": digest, "data": p},
        )
        for i, p in enumerate(pieces)
    ]


def emit_notebook(emitter: Emitter, path: Path | None) -> None:
    """Send the executed notebook at ``path`` (if it was written) as events; never raises:
    a notebook that cannot be sent must not fail the stage."""
    if path is None:
        return
    try:
        content = path.read_bytes()
    except OSError as exc:
        if path.exists():
            log.warning("the executed notebook %s cannot be read: %s", path, exc)
        return
    for event, fields in notebook_events(content):
        emitter.emit(event, **fields)


class NotebookParts:
    """Puts one attempt's ``notebook.part`` events back together (any order, repeats ok).

    ``add`` answers the gzipped notebook once every part is there (and its digest
    matches), else None; ``too_large`` holds the size a ``notebook.too_large`` event gave.
    """

    def __init__(self) -> None:
        self._parts: dict[int, str] = {}
        self._expected: tuple[int, int, str] | None = None  # parts, bytes, sha256
        self.too_large: int | None = None
        self.gzip: bytes | None = None

    def add(self, event: dict[str, Any]) -> bytes | None:
        if event.get("event") == NOTEBOOK_TOO_LARGE:
            self.too_large = int(event.get("bytes") or 0)
            return None
        if event.get("event") != NOTEBOOK_PART or self.gzip is not None:
            return None
        try:
            expected = (int(event["parts"]), int(event["bytes"]), str(event["sha256"]))
            part, data = int(event["part"]), str(event["data"])
        except (KeyError, TypeError, ValueError):
            return None
        if expected != self._expected:  # a new notebook (or the first part): start again
            self._expected, self._parts = expected, {}
        parts, size, digest = expected
        if not 0 <= part < parts:
            return None
        self._parts[part] = data
        if len(self._parts) < parts:
            return None
        try:
            packed = base64.b64decode("".join(self._parts[i] for i in range(parts)), validate=True)
        except ValueError:
            return None
        if len(packed) != size or hashlib.sha256(packed).hexdigest() != digest:
            return None
        self.gzip = packed
        return packed


def decompress(packed: bytes) -> bytes:
    """The notebook from its gzip (``compress``)."""
    return gzip.decompress(packed)
