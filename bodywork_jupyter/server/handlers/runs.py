"""``runs``: status, cancel, logs from an offset, events (JSON or a server-sent stream),
and the executed notebooks. Everything is read from the run store."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from bodywork_jupyter import deploying
from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import Run, StageState
from bodywork_jupyter.server import logs, views
from bodywork_jupyter.server.base import BodyworkHandler
from bodywork_jupyter.server.errors import NotFoundError

#: How often a stream looks for new events, and sends a comment to keep proxies open.
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


class RunsHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.bodywork.refresh()
        deployment = self.get_query_argument("deployment", None) or None
        limit = self.int_argument("limit", 50, 1, 1000)
        store = self.store

        def render() -> bytes:
            runs = store.runs(deployment, limit, with_plan=False)
            return json.dumps({"runs": [views.run_summary(r) for r in runs]}).encode()

        body = self.bodywork.cache.get(("runs", deployment, limit), store.last_seq(), render)
        self.finish(body)


class RunHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.bodywork.refresh()
        run = self.find_run(run_id)
        self.reply(views.run_detail(run, self.store.stages(run.id), self.api_url))


class CancelHandler(BodyworkHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        run = self.find_run(run_id)
        deploying.cancel_run(self.store, run)
        run = self.find_run(run.id)
        self.reply(views.run_detail(run, self.store.stages(run.id), self.api_url), status=202)


class _StageHandler(BodyworkHandler):
    def find_stage(self, run: Run, name: str) -> StageState:
        for state in self.store.stages(run.id):
            if state.stage == name:
                return state
        raise NotFoundError(f"run {run.id} has no stage '{name}'")


class LogsHandler(_StageHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, stage: str) -> None:
        run = self.find_run(run_id)
        state = self.find_stage(run, stage)
        offset = self.int_argument("offset", 0)
        finished = state.status in states.STAGE_FINISHED or run.status in states.RUN_FINISHED
        path = Path(state.log_path) if state.log_path else None
        chunk = await asyncio.to_thread(logs.read_from, path, offset, finished)
        self.reply(
            {
                "run_id": run.id,
                "stage": stage,
                "attempt": state.attempt,
                "status": state.status,
                "offset": chunk.offset,
                "next_offset": chunk.next_offset,
                "eof": chunk.eof,
                "finished": finished and chunk.eof,
                "text": chunk.text,
            }
        )


class NotebookHandler(_StageHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str, stage: str) -> None:
        run = self.find_run(run_id)
        state = self.find_stage(run, stage)
        path = Path(state.notebook_path).resolve() if state.notebook_path else None
        if path is None or not path.is_file() or self.store.state_dir not in path.parents:
            raise NotFoundError(f"stage '{stage}' of run {run.id} has no executed notebook")
        self.set_header("Content-Disposition", f'inline; filename="{stage}.ipynb"')
        content = await asyncio.to_thread(path.read_bytes)
        self.finish(content, set_content_type="application/x-ipynb+json")


class EventsHandler(BodyworkHandler):
    """JSON by default; a server-sent event stream when the client accepts text/event-stream."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = self.find_run(run_id)
        last_id = self.request.headers.get("Last-Event-ID", "")
        after = self.int_argument("after", int(last_id) if last_id.isdigit() else 0)
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            events = self.store.events(run.id, after)
            self.reply(
                {
                    "run_id": run.id,
                    "status": run.status,
                    "events": [views.event(e) for e in events],
                    "next_after": events[-1].seq if events else after,
                    "finished": run.status in states.RUN_FINISHED,
                }
            )
            return
        await self._stream(run, after, float(self.int_argument("timeout", 0, 0, 86400)))

    async def _stream(self, run: Run, after: int, timeout: float) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        started = last_write = time.monotonic()
        try:
            await self.flush()  # the headers now: an EventSource is open before any event
            while True:
                self.bodywork.refresh()
                status = self.store.get_run(run.id)
                events = self.store.events(run.id, after)
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
                finished = status is None or status.status in states.RUN_FINISHED
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
