"""``runs``: status, cancel, re-run, logs from an offset, events (JSON or a server-sent stream),
and the executed notebooks. Everything is read through the read service."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from bodywork_jupyter import deploying
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Run
from bodywork_jupyter.reader import RunReader
from bodywork_jupyter.server import rerun, views
from bodywork_jupyter.server.base import BodyworkHandler

#: How often a stream looks for new events, and sends a comment to keep proxies open.
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


class RunsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        deployment = self.get_query_argument("deployment", None) or None
        limit = self.int_argument("limit", 50, 1, 1000)
        runs = self.runs

        def render() -> bytes:
            found = runs.runs(deployment, limit)
            return json.dumps({"runs": [views.run_summary(r) for r in found]}).encode()

        key = ("runs", self.where, deployment, limit)
        self.finish(self.bodywork.cache.get(key, runs.target.last_seq(), render))


class RunHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        runs = self.runs
        run = runs.find_run(run_id)
        self.reply(views.run_detail(run, runs, self.api_url))


class CancelHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        runs = self.runs
        run = runs.find_run(run_id)
        runs.target.cancel(run.id)
        self.reply(views.run_detail(runs.run(run.id), runs, self.api_url), status=202)


class RerunHandler(BodyworkHandler):
    """The run's plan and options submitted again (``server.rerun``): a new run (201)."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        run = self.runs.find_run(run_id)  # a 404 before any work
        where, started_by = self.where, self.started_by  # who re-runs it, and where

        def submit() -> dict[str, Any]:
            target = self.bodywork.target(where)  # this worker thread's own
            prepared, options = rerun.again(run, target)
            record = deploying.submit(target, prepared, options, started_by=started_by)
            detail = views.run_detail(record, RunReader(target), self.api_url)
            return {**detail, "warnings": prepared.warnings}

        created = await asyncio.to_thread(submit)
        self.set_header("Location", self.api_url("runs", created["id"]))
        self.reply(created, status=201)


class LogsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, stage: str) -> None:
        runs = self.runs
        run = runs.find_run(run_id)
        offset = self.int_argument("offset", 0)
        state = runs.stage(run.id, stage)
        chunk = runs.log(run.id, stage, offset)
        self.reply(
            {
                "run_id": run.id,
                "stage": stage,
                "attempt": chunk.attempt,
                "status": state.status,
                "offset": chunk.offset,
                "next_offset": chunk.next_offset,
                "eof": chunk.eof,
                "finished": chunk.finished,
                "text": chunk.text,
            }
        )


class NotebookHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, stage: str) -> None:
        runs = self.runs
        run = runs.find_run(run_id)
        content = runs.executed_notebook(run.id, stage)
        self.set_header("Content-Disposition", f'inline; filename="{stage}.ipynb"')
        self.finish(content, set_content_type="application/x-ipynb+json")


class EventsHandler(BodyworkHandler):
    """JSON by default; a server-sent event stream when the client accepts text/event-stream."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        runs = self.runs
        run = runs.find_run(run_id)
        last_id = self.request.headers.get("Last-Event-ID", "")
        after = self.int_argument("after", int(last_id) if last_id.isdigit() else 0)
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            events = runs.events(run.id, after)
            self.reply(
                {
                    "run_id": run.id,
                    "status": run.status,
                    "events": [views.event(e) for e in events],
                    "next_after": events[-1].seq if events else after,
                    "finished": states.finished(run.status),
                }
            )
            return
        await self._stream(runs, run, after, float(self.int_argument("timeout", 0, 0, 86400)))

    async def _stream(self, runs: RunReader, run: Run, after: int, timeout: float) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        started = last_write = time.monotonic()
        try:
            await self.flush()  # the headers now: an EventSource is open before any event
            while True:
                self.bodywork.refresh(self.where)
                status = runs.target.get_run(run.id, with_plan=False)
                events = runs.events(run.id, after)
                for event in events:
                    self.write(
                        f"id: {event.seq}\nevent: {event.type}\n"
                        f"data: {json.dumps(views.event(event), default=str)}\n\n"
                    )
                    after = event.seq
                now = time.monotonic()
                if not events and now - last_write >= KEEPALIVE_SECONDS:
                    self.write(": keepalive\n\n")
                if events or now - last_write >= KEEPALIVE_SECONDS:
                    await self.flush()
                    last_write = now
                finished = status is None or states.finished(status.status)
                if finished and not events:
                    final = json.dumps({"status": status.status if status else "unknown"})
                    self.write(f"event: end\ndata: {final}\n\n")
                    break
                if timeout and now - started >= timeout:
                    break
                await asyncio.sleep(POLL_SECONDS)
        except StreamClosedError:
            return
        self.finish(set_content_type="text/event-stream")
