"""Following a run through the read service: a rich live table on a terminal, plain lines
otherwise."""

from __future__ import annotations

import sys
import time

from bodywork_jupyter.cli import output
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Event, Run, StageState
from bodywork_jupyter.reader import RunReader

POLL_SECONDS = 0.2
COLOURS = {
    states.RUNNING: "cyan",
    states.RETRYING: "yellow",
    states.SUCCEEDED: "green",
    states.READY: "green",
    states.FAILED: "red",
    states.LOST: "red",
    states.CANCELLED: "yellow",
    states.SKIPPED: "bright_black",
    states.PENDING: "bright_black",
    states.STOPPED: "bright_black",
}


def follow(runs: RunReader, run_id: str) -> str:
    """Show the run until it settles (finished, or deployed with services ready)."""
    if sys.stdout.isatty():
        return _follow_live(runs, run_id)
    return _follow_plain(runs, run_id)


def _follow_plain(runs: RunReader, run_id: str) -> str:
    seen = 0
    last_refresh = time.monotonic()
    while True:
        for event in runs.events(run_id, seen):
            seen = event.seq
            line = describe(event)
            if line:
                output.echo(line)
        if runs.settled(runs.run(run_id)):
            return run_id
        if time.monotonic() - last_refresh > 2:
            runs.target.refresh()
            last_refresh = time.monotonic()
        time.sleep(POLL_SECONDS)


def describe(event: Event) -> str:
    """One line for the events a person wants to see."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    data = event.data
    who = f"{event.stage}" if event.stage else "run"
    text = {
        "run.queued": "queued",
        "run.started": "started",
        "stage.starting": f"starting (attempt {event.attempt})",
        "stage.succeeded": "succeeded",
        "stage.ready": f"ready at {data.get('url')}",
        "stage.retrying": f"retrying: {data.get('message', '')}",
        "stage.failed": f"FAILED: {data.get('message', '')}",
        "stage.skipped": "skipped",
        "stage.cancelled": "cancelled",
        "stage.stopped": "stopped",
        "runner.requirements.ready": (
            "requirements ready (cached)"
            if data.get("cached")
            else f"requirements installed in {data.get('seconds', 0):.1f}s"
        ),
        "runner.note": f"note: {data.get('message', '')}",
        "run.deployed": "deployed: services are ready",
        "run.succeeded": "succeeded",
        "run.failed": f"FAILED: {data.get('message', '')}",
        "run.cancelled": f"cancelled: {data.get('message', '')}",
        "run.lost": f"LOST: {data.get('message', '')}",
        "run.stopped": f"stopped: {data.get('message', '')}",
    }.get(event.type)
    return f"{stamp}  {who:<16} {text}" if text else ""


def _follow_live(runs: RunReader, run_id: str) -> str:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    last_refresh = time.monotonic()
    with Live(console=console, refresh_per_second=8, transient=False) as live:
        while True:
            run = runs.run(run_id)
            live.update(table(run, runs.stages(run_id)))
            if runs.settled(run):
                return run_id
            if time.monotonic() - last_refresh > 2:
                runs.target.refresh()
                last_refresh = time.monotonic()
            time.sleep(POLL_SECONDS)


def table(run: Run, stages: list[StageState]):  # type: ignore[no-untyped-def]
    from rich.table import Table

    now = time.time()
    grid = Table(title=f"run {run.id} - {run.status}", title_justify="left", expand=False)
    for column in ("stage", "kind", "status", "attempt", "elapsed", "details"):
        grid.add_column(column)
    for stage in stages:
        colour = COLOURS.get(stage.status, "white")
        elapsed = ""
        if stage.started:
            elapsed = f"{(stage.finished or now) - stage.started:.1f}s"
        grid.add_row(
            stage.stage,
            stage.kind,
            f"[{colour}]{stage.status}[/{colour}]",
            str(stage.attempt or ""),
            elapsed,
            stage.url or stage.message,
        )
    return grid
