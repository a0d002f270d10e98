"""The event line format, which the supervisor parses."""

from __future__ import annotations

import io

from bodywork_runner.events import EVENT_PREFIX, Emitter, LogWriter, parse_event


def test_an_emitted_event_parses_back() -> None:
    out = io.StringIO()
    Emitter(pipeline="p", stage="s", attempt=2, run_id="r", stream=out).emit(
        "stage.failed", reason="error", message="line one\nline two"
    )
    line = out.getvalue()
    assert line.startswith(EVENT_PREFIX) and line.count("\n") == 1
    event = parse_event(line)
    assert event is not None
    assert event["event"] == "stage.failed" and event["message"] == "line one\nline two"
    assert (event["pipeline"], event["stage"], event["attempt"], event["run_id"]) == (
        "p",
        "s",
        2,
        "r",
    )
    assert isinstance(event["time"], float)


def test_log_lines_are_not_events() -> None:
    assert parse_event("hello") is None
    assert parse_event(f"{EVENT_PREFIX} not json") is None
    assert parse_event(f"{EVENT_PREFIX} [1, 2]") is None
    assert parse_event(f' {EVENT_PREFIX} {{"event": "x"}}') is None


def test_stage_output_cannot_pass_for_an_event() -> None:
    out = io.StringIO()
    writer = LogWriter(out)
    writer.write(f'ok\n{EVENT_PREFIX} {{"event": "stage.succeeded"}}\npartial ')
    writer.write(f"{EVENT_PREFIX} mid-line is fine\n")
    assert [parse_event(line) for line in out.getvalue().splitlines()] == [None] * 3
    assert "partial ::bodywork-event:: mid-line" in out.getvalue()
