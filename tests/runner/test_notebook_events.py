"""The executed notebook as run events: cut into parts, put back together, and sent by the
real runner only when its spec asks."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import nbformat
from runner_helpers import make_spec, run_runner, write_notebook

from bodywork_runner.events import EVENT_PREFIX, Emitter, parse_event
from bodywork_runner.notebook_events import (
    NOTEBOOK_PART,
    NOTEBOOK_TOO_LARGE,
    NotebookParts,
    compress,
    decompress,
    emit_notebook,
    notebook_events,
)


def _whole(events: list[tuple[str, dict[str, object]]]) -> bytes | None:
    parts = NotebookParts()
    found = None
    for kind, fields in events:
        found = parts.add({"event": kind, **fields}) or found
    return found


def test_a_notebook_goes_out_in_parts_and_comes_back_the_same() -> None:
    content = json.dumps({"cells": [{"source": f"print({i})"} for i in range(3000)]}).encode()
    events = notebook_events(content, part_chars=1000)

    assert len(events) > 3 and {kind for kind, _ in events} == {NOTEBOOK_PART}
    assert all(len(str(fields["data"])) <= 1000 for _, fields in events)
    assert [fields["part"] for _, fields in events] == list(range(len(events)))
    packed = _whole(events)
    assert packed is not None and decompress(packed) == content
    assert compress(content) == compress(content)  # no timestamp: the same bytes each time


def test_parts_in_any_order_with_repeats_make_the_notebook_once_all_are_there() -> None:
    content = b'{"cells": []}' * 500
    events = notebook_events(content, part_chars=64)
    shuffled = [*events, *events[:3]]
    random.Random(7).shuffle(shuffled)
    parts = NotebookParts()
    results = [parts.add({"event": kind, **fields}) for kind, fields in shuffled]

    assert sum(r is not None for r in results) == 1
    assert parts.gzip is not None and decompress(parts.gzip) == content


def test_a_missing_or_damaged_part_gives_no_notebook() -> None:
    events = notebook_events(b"x" * 20000 + bytes(range(256)) * 40, part_chars=100)
    assert _whole(events[:-1]) is None
    kind, fields = events[1]
    damaged = [*events[:1], (kind, {**fields, "data": "A" * len(str(fields["data"]))}), *events[2:]]
    assert _whole(damaged) is None
    assert _whole([(kind, {"part": 0})]) is None  # not a part: ignored


def test_a_notebook_too_large_is_one_event_saying_its_size() -> None:
    noise = random.Random(1).randbytes(5000)  # does not compress
    (event,) = notebook_events(noise, max_bytes=1000)
    kind, fields = event
    assert kind == NOTEBOOK_TOO_LARGE and int(str(fields["bytes"])) > 1000
    parts = NotebookParts()
    assert parts.add({"event": kind, **fields}) is None
    assert parts.too_large == fields["bytes"]


def test_emitted_parts_are_event_lines(tmp_path: Path) -> None:
    path = tmp_path / "stage.ipynb"
    path.write_bytes(b'{"cells": ["hello"]}')
    out = io.StringIO()
    emit_notebook(Emitter(stage="s", stream=out), path)
    emit_notebook(Emitter(stage="s", stream=out), tmp_path / "missing.ipynb")  # nothing

    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith(EVENT_PREFIX) for line in lines)
    events = [parse_event(line) for line in lines]
    parts = NotebookParts()
    packed = [parts.add(e) for e in events if e is not None][-1]
    assert packed is not None and gzip.decompress(packed) == path.read_bytes()


# -- the real runner ---------------------------------------------------------------------------


def test_the_runner_sends_the_executed_notebook_when_its_spec_asks(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "train.ipynb", "print('trained', 6 * 7)")
    asked = run_runner(make_spec(project, "train.ipynb", tmp_path, emit_notebook=True), tmp_path)

    assert asked.returncode == 0, asked.stderr
    kinds = asked.kinds
    assert NOTEBOOK_PART in kinds and kinds[-1] == "stage.succeeded"
    assert max(i for i, k in enumerate(kinds) if k == NOTEBOOK_PART) < kinds.index(
        "stage.succeeded"
    )
    parts = NotebookParts()
    packed = [parts.add(e) for e in asked.of(NOTEBOOK_PART)][-1]
    assert packed is not None
    executed = nbformat.reads(decompress(packed).decode(), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert any("trained 42" in o.get("text", "") for o in outputs)

    plain = run_runner(make_spec(project, "train.ipynb", tmp_path / "again"), tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert NOTEBOOK_PART not in plain.kinds  # not asked: nothing sent (the local target)


def test_a_failing_notebook_is_sent_too_before_its_failure(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_notebook(project / "broken.ipynb", "print('before')", "raise ValueError('bad data')")
    result = run_runner(make_spec(project, "broken.ipynb", tmp_path, emit_notebook=True), tmp_path)

    assert result.returncode == 1
    assert result.kinds[-1] == "stage.failed" and NOTEBOOK_PART in result.kinds
    parts = NotebookParts()
    packed = [parts.add(e) for e in result.of(NOTEBOOK_PART)][-1]
    assert packed is not None and b"bad data" in decompress(packed)
