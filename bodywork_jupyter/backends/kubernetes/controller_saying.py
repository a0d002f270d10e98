"""What the in-cluster controller says on stdout: one line a decision, and the engine's
recorder that records each event and says the decisions among them."""

from __future__ import annotations

import time
from typing import Any

from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter


def say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"{stamp} {message}", flush=True)


def describe(type_: str, stage: str | None, attempt: int | None, data: dict[str, Any]) -> str:
    """One line for a decision the engine recorded ('' for what is not one)."""
    message = str(data.get("message", ""))
    if type_.startswith("run."):
        return f"run: {type_[4:]}" + (f": {message}" if message else "")
    if not type_.startswith("stage."):
        return ""
    what = type_[6:]
    if what == "starting":
        ref = data.get("ref") or {}
        return f"stage {stage}: starting attempt {attempt} ({ref.get('kind')} {ref.get('name')})"
    if what == "ready":
        return f"stage {stage}: ready at {data.get('url')}"
    return f"stage {stage}: {what}" + (f": {message}" if message else "")


class SayingRecorder:
    """The engine's Recorder: records through the writer, and says each decision."""

    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer

    def record(
        self,
        run_id: str,
        type_: str,
        stage: str | None = None,
        attempt: int | None = None,
        **data: Any,
    ) -> None:
        self.writer.record(run_id, type_, stage, attempt, **data)
        line = describe(type_, stage, attempt, data)
        if line:
            say(line)
