"""``RunView``: a live view of a deployment run, fed by the run's events.

    run = bodywork_jupyter.deploy("examples/iris")
    RunView(run)        # the last expression of a cell: shows it

A background thread reads ``run.events(after=last_seq)`` every ``poll`` seconds (it
opens its own connection to the run's target) and updates only the cards of the stages
that changed. It stops when the run settles (finished, or deployed with every service
ready), after one last refresh. Nothing here talks to a backend: the view reads through
the read service (``reader.RunReader``), as every other surface does.
"""

from __future__ import annotations

import html
import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]
from pydantic import JsonValue

from bodywork_jupyter.api import Run
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Event, StageState
from bodywork_jupyter.reader import examples_of, kept_serving_note
from bodywork_jupyter.widgets import dag

POLL_SECONDS = 0.3
LOG_LINES = 20
#: Run-level events that change every stage's row at once.
_ALL_STAGES_EVENTS = frozenset({"run.lost", "run.stopped", "run.cancelled", "run.failed"})


class StageCard:
    """The widgets of one stage and the state they show."""

    def __init__(
        self,
        name: str,
        kind: str,
        depends_on: list[str],
        log_lines: int,
        example: JsonValue = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.depends_on = depends_on
        self.status = states.PENDING
        self.attempt = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.message = ""
        self.url: str | None = None
        self.cells = (0, 0)
        self.log_attempt = 0
        self.log_offset = 0
        self.lines: deque[str] = deque(maxlen=log_lines)
        self.updates = 0  # how often the card was redrawn (tests: only changed cards are)

        self.title = w.HTML()
        self.progress = w.IntProgress(
            value=0, min=0, max=1, description="cells", layout=w.Layout(width="95%")
        )
        self.details = w.HTML()
        self.link = w.HTML()
        # the service's example request body, as deployed, to start from (else an empty one)
        body = "{}" if example is None else json.dumps(example, indent=2, ensure_ascii=False)
        self.payload = w.Textarea(
            value=body,
            rows=min(max(body.count("\n") + 1, 3), 10),
            placeholder='{"x": 1}',
            layout=w.Layout(width="95%"),
        )
        self.path = w.Text(value="/predict", description="path", layout=w.Layout(width="95%"))
        self.send = w.Button(description="POST", icon="paper-plane", button_style="primary")
        self.response = w.Textarea(
            rows=3, disabled=True, placeholder="the response", layout=w.Layout(width="95%")
        )
        self.try_box = w.VBox(
            [
                w.HTML("<b>try it</b> (JSON body)"),
                self.payload,
                self.path,
                self.send,
                self.response,
            ],
            layout=w.Layout(display="none"),
        )
        self.log = w.Textarea(
            rows=6, disabled=True, placeholder="no log yet", layout=w.Layout(width="95%")
        )
        self.box = w.VBox(
            [self.title, self.progress, self.details, self.link, self.try_box, self.log],
            layout=w.Layout(
                width="330px", border="1px solid #bdbdbd", padding="4px", margin="0 6px 6px 0"
            ),
        )

    # -- state ----------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Progress and attempts come from events; the rest from the stage's summary row."""
        if event.type == "stage.starting":
            if self.lines:
                self.lines.append(f"--- attempt {event.attempt} ---")
            self.cells = (0, 0)
        elif event.type == "runner.cell.finished":
            self.cells = (int(event.data.get("index", 0)), int(event.data.get("total", 0)))

    def take_row(self, row: StageState) -> None:
        self.status = row.status
        self.attempt = row.attempt
        self.started, self.finished = row.started, row.finished
        self.message = row.message
        self.url = row.url if row.status == states.READY else self.url
        if self.status == states.SUCCEEDED and self.cells[1] and self.kind == "batch":
            self.cells = (self.cells[1], self.cells[1])

    def read_log(self, run: Run) -> bool:
        """Read the lines added to the log since the last call; True when lines arrived."""
        if not self.attempt:
            return False
        if self.attempt != self.log_attempt:
            self.log_attempt, self.log_offset = self.attempt, 0
        chunk = run.reader.log(run.id, self.name, self.log_offset)
        self.log_offset = chunk.next_offset
        lines = chunk.text.splitlines()
        self.lines.extend(lines)
        return bool(lines)

    # -- drawing --------------------------------------------------------------------------

    def draw(self, now: float) -> None:
        self.updates += 1
        colour = dag.COLOURS.get(self.status, "#ffffff")
        after = f" · after {', '.join(self.depends_on)}" if self.depends_on else ""
        self.title.value = (
            f"<b>{html.escape(self.name)}</b> <small>{html.escape(self.kind)}{after}</small> "
            f'<span style="background:{colour};padding:1px 6px;border-radius:8px">'
            f"{html.escape(self.status)}</span>"
        )
        index, total = self.cells
        self.progress.max = max(total, 1)
        self.progress.value = min(index, self.progress.max)
        self.progress.description = f"{index}/{total} cells" if total else "cells"
        self.progress.bar_style = {
            states.SUCCEEDED: "success",
            states.READY: "success",
            states.FAILED: "danger",
            states.LOST: "danger",
            states.RETRYING: "warning",
        }.get(self.status, "info")
        self.draw_time(now)
        if self.url:
            url = html.escape(self.url)
            self.link.value = f'serving at <a href="{url}" target="_blank">{url}</a>'
            self.try_box.layout.display = "flex"

    def draw_time(self, now: float) -> None:
        parts = []
        if self.attempt:
            parts.append(f"attempt {self.attempt}")
        if self.started:
            parts.append(elapsed((self.finished or now) - self.started))
        if self.message:
            parts.append(html.escape(self.message))
        self.details.value = "<small>" + " · ".join(parts) + "</small>"

    def draw_log(self) -> None:
        self.log.value = "\n".join(self.lines)


class RunView:
    """A live view of a run: the DAG, and one card per stage (progress, log tail, URL)."""

    def __init__(
        self,
        run: Run,
        *,
        poll: float = POLL_SECONDS,
        log_lines: int = LOG_LINES,
        start: bool = True,
    ) -> None:
        self.run = run
        self.poll = poll
        self.error: str | None = None
        #: once the run ended without deploying: the earlier version that keeps serving
        self.kept_serving: str | None = None
        self._kept_asked = False
        self._started: float | None = None
        self._lock = threading.RLock()
        self._last_seq = 0
        self._last_time = 0.0
        self._run_status = states.QUEUED
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        record = run.record
        #: who started the run (None: not recorded)
        self.started_by = record.started_by
        plan = record.plan
        examples = examples_of(record)
        planned: dict[str, dict[str, Any]] = dict(plan.get("stages", {}))
        order = [n for n in plan.get("order", planned) if n in planned]
        self._dependencies = {name: list(planned[name].get("depends_on", ())) for name in order}
        self._columns = dag.layers(self._dependencies)
        failure = plan.get("run_on_failure")
        if failure:
            self._columns.append([failure["name"]])
            planned[failure["name"]] = failure
        self.cards: dict[str, StageCard] = {
            name: StageCard(
                name,
                str(planned[name].get("kind", "batch")),
                self._dependencies.get(name, []),
                log_lines,
                examples.get(name),
            )
            for column in self._columns
            for name in column
        }
        for card in self.cards.values():
            card.send.on_click(lambda _button, name=card.name: self.try_it(name))

        self.header = w.HTML()
        self.graph = w.HTML()
        columns = [w.VBox([self.cards[n].box for n in column]) for column in self._columns]
        self.widget = w.VBox(
            [self.header, self.graph, w.HBox(columns, layout=w.Layout(flex_flow="row wrap"))]
        )
        self.update(redraw_all=True)
        if start and not self.settled:
            self.start()

    # -- what tests and users read --------------------------------------------------------

    @property
    def status(self) -> str:
        """The run's status as last seen."""
        return self._run_status

    @property
    def settled(self) -> bool:
        return states.settled(self._run_status)

    def stage_status(self, stage: str) -> str:
        return self._card(stage).status

    def progress(self, stage: str) -> tuple[int, int]:
        """Cells run so far and the notebook's cell count: ``(index, total)``."""
        return self._card(stage).cells

    def attempt(self, stage: str) -> int:
        return self._card(stage).attempt

    def log_tail(self, stage: str) -> str:
        return "\n".join(self._card(stage).lines)

    def url(self, stage: str) -> str | None:
        return self._card(stage).url

    def column_cards(self) -> list[list[StageCard]]:
        """The stage cards as drawn: one column per dependency level."""
        return [[self.cards[name] for name in column] for column in self._columns]

    def _card(self, stage: str) -> StageCard:
        try:
            return self.cards[stage]
        except KeyError:
            raise KeyError(f"no stage {stage!r} (stages: {', '.join(self.cards)})") from None

    def __repr__(self) -> str:
        stages = ", ".join(
            f"{name}: {card.status}" + (f" {card.url}" if card.url else "")
            for name, card in self.cards.items()
        )
        kept = f"; {self.kept_serving}" if self.kept_serving else ""
        return (
            f"<RunView of run {self.run.id} ({self.run.deployment}) {self.status}: {stages}{kept}>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)  # what a frontend without widgets shows
        return bundle

    # -- following the run ----------------------------------------------------------------

    def start(self) -> None:
        """Follow the run in a background thread (until it settles or ``stop()``)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._follow, name=f"bodywork-runview-{self.run.id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> RunView:
        """Block until the view has followed the run to its end (raises TimeoutError)."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"run {self.run.id} is still {self.status} after {timeout}s")
        return self

    @property
    def following(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _follow(self) -> None:
        # a store connection belongs to one thread: this thread reads through its own
        run = self.run.reopen()
        try:
            while not self._stop.is_set():
                self.update(run)
                if self.settled:
                    break
                self._stop.wait(self.poll)
            self.update(run)  # the last lines of the logs arrive after the last event
        except Exception as exc:  # a view must never take the kernel down
            self.error = f"{type(exc).__name__}: {exc}"
            self._draw_header(time.time())
        finally:
            run.close()

    def update(self, run: Run | None = None, *, redraw_all: bool = False) -> set[str]:
        """Apply the events since the last update; returns the stages whose card changed."""
        run = run or self.run
        with self._lock:
            events = run.events(after=self._last_seq)
            changed: set[str] = set(self.cards) if redraw_all else set()
            for event in events:
                self._last_seq, self._last_time = event.seq, event.time
                if event.stage in self.cards:
                    self.cards[event.stage].apply(event)
                    changed.add(event.stage)
                elif event.type in _ALL_STAGES_EVENTS:
                    changed |= set(self.cards)
            status_before = {name: card.status for name, card in self.cards.items()}
            if changed:
                for row in run.stages:
                    if row.stage in changed and row.stage in self.cards:
                        self.cards[row.stage].take_row(row)
            self._run_status = run.status
            self._started = self._started or run.record.started
            if self.settled and not self._kept_asked:  # asked once: the answer is final
                self._kept_asked = True
                kept = run.serving_instead
                self.kept_serving = kept_serving_note(kept) if kept is not None else None
            now = time.time()
            logs_changed = set()
            for name, card in self.cards.items():
                if card.read_log(run) or (redraw_all and card.lines):
                    logs_changed.add(name)
                    card.draw_log()
                if name in changed:
                    card.draw(now)
                elif card.status in (states.RUNNING, states.RETRYING):
                    card.draw_time(now)  # the clock ticks without events
            if redraw_all or any(self.cards[n].status != s for n, s in status_before.items()):
                self.graph.value = dag.svg(
                    self._columns,
                    self._dependencies,
                    {name: card.status for name, card in self.cards.items()},
                )
            self._draw_header(now)
            return changed | logs_changed

    def _draw_header(self, now: float) -> None:
        started = self._started
        clock = ""
        if started:
            end = self._last_time if self.settled and self._last_time else now
            clock = ("in " if self.settled else "") + elapsed(end - started)
        colour = dag.COLOURS.get(
            {states.QUEUED: states.PENDING, states.DEPLOYED: states.READY}.get(
                self._run_status, self._run_status
            ),
            "#ffffff",
        )
        error = f' <span style="color:#c62828">view error: {html.escape(self.error or "")}</span>'
        self.header.value = (
            f"<b>run {html.escape(self.run.id)}</b> · {html.escape(self.run.deployment)} "
            f'<span style="background:{colour};padding:1px 6px;border-radius:8px">'
            f"{html.escape(self._run_status)}</span> {clock}"
            + (f" · started by {html.escape(self.started_by)}" if self.started_by else "")
            + (error if self.error else "")
            + (f"<br>{html.escape(self.kept_serving)}" if self.kept_serving else "")
        )

    # -- try it -----------------------------------------------------------------------------

    def try_it(self, stage: str, payload: str | None = None, path: str | None = None) -> str:
        """POST the JSON in the stage's box (or ``payload``) to its service; show the answer."""
        card = self._card(stage)
        if payload is not None:
            card.payload.value = payload
        if path is not None:
            card.path.value = path
        card.response.value = answer = post_json(card.url, card.path.value, card.payload.value)
        return answer


def post_json(url: str | None, path: str, body: str, timeout: float = 10) -> str:
    """The service's answer to a JSON POST, as text (pretty JSON when it is JSON)."""
    if not url:
        return "error: the service is not ready yet"
    try:
        data = json.loads(body or "null")
    except json.JSONDecodeError as exc:
        return f"error: the body is not JSON ({exc})"
    target = url.rstrip("/") + "/" + path.lstrip("/")
    request = urllib.request.Request(
        target,
        data=json.dumps(data).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text: str = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        return f"error: HTTP {exc.code} from {target}: {detail}"
    except (urllib.error.URLError, OSError) as exc:
        return f"error: {target}: {exc}"
    try:
        return json.dumps(json.loads(text), indent=2)
    except json.JSONDecodeError:
        return text


def elapsed(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
