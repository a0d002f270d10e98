"""The one read service: every surface asks its questions about runs here.

"Which run is this?", "has it settled?", "what did the stage print?", "what does the
deployment serve?" each have exactly one answer, computed here from a target's raw
records, so the CLI, the Python API, the magics, the widgets and the REST API cannot
disagree.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import JsonValue

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.states import DeploymentStatus
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BadInputError, NotFoundError
from bodywork_jupyter.targets.base import Target

#: Lines the runner writes for its supervisor, not for people.
EVENT_PREFIX = "::bodywork-event::"
LOG_CHUNK = 1 << 20
#: runs read at once for a deployment's view (its serving run is looked for further back)
RECENT_RUNS = 20
POLL_SECONDS = 0.2
#: A commit as people read it (git's short form, as ``source`` shows it too).
SHORT_COMMIT = 8
#: A run that ended so leaves the version before it serving.
KEPT_SERVING_AFTER = frozenset({states.FAILED, states.CANCELLED, states.LOST})


@dataclass(frozen=True)
class LogChunk:
    """Whole lines of a stage's log from a byte offset (runner event lines left out)."""

    stage: str
    attempt: int
    text: str
    offset: int
    next_offset: int
    eof: bool  # nothing more in the log right now
    finished: bool  # the stage is over and everything was read: nothing more will come


@dataclass(frozen=True)
class ServiceExit:
    """Why a service of the serving run is ``restarting``: its replica's newest exit."""

    stage: str
    message: str  # which replica, how it ended, when it starts again
    exit_code: int | None = None
    log_tail: tuple[str, ...] = ()  # the last lines it printed
    time: float | None = None


@dataclass(frozen=True)
class DeploymentView:
    """A deployment as people see it: its status, its newest run and what it serves."""

    record: Deployment
    status: DeploymentStatus
    run: Run | None  # the newest run
    serving_run: Run | None  # the run whose services answer now
    urls: dict[str, str] = field(default_factory=dict)
    #: a service with an Ingress: its URL from outside, None while it has no address
    ingresses: dict[str, str | None] = field(default_factory=dict)
    #: the services that are restarting a replica that died (the status is then failing)
    exits: dict[str, ServiceExit] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def serving_commit(self) -> str | None:
        """The commit the serving version was deployed from (None: nothing serves, or its
        code was a folder outside git)."""
        return commit_of(self.serving_run)


class RunReader:
    """Questions about runs, answered from one target's records."""

    def __init__(self, target: Target) -> None:
        self.target = target

    # -- which run ---------------------------------------------------------------------------

    def find_run(self, ref: str) -> Run:
        """A run by id, by unique id prefix, or by deployment name (its newest run)."""
        ref = ref.strip()
        if not ref:
            raise BadInputError("give a run id, an id prefix or a deployment name")
        run = self.target.get_run(ref)
        if run is not None:
            return run
        matches = self.target.runs_with_prefix(ref, limit=2)
        if len(matches) > 1:
            ids = ", ".join(r.id for r in self.target.runs_with_prefix(ref, limit=5))
            raise BadInputError(f"'{ref}' is the start of several runs ({ids}) - give more of it")
        if matches:
            return self._full(matches[0].id)
        if self.target.get_deployment(ref) is not None:
            newest = self.target.runs(ref, limit=1)
            if newest:
                return self._full(newest[0].id)
            raise NotFoundError(f"deployment '{ref}' has no runs yet")
        raise NotFoundError(
            f"no run '{ref}' - give a run id (see 'bodywork get runs') or a deployment name"
        )

    def run(self, run_id: str) -> Run:
        return self._full(run_id)

    def _full(self, run_id: str) -> Run:
        run = self.target.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run '{run_id}' - see 'bodywork get runs'")
        return run

    def _summary(self, run_id: str) -> Run:
        """The run without its plan (cheap: logs and waits ask often)."""
        run = self.target.get_run(run_id, with_plan=False)
        if run is None:
            raise NotFoundError(f"no run '{run_id}' - see 'bodywork get runs'")
        return run

    def stages(self, run_id: str) -> list[StageState]:
        return self.target.stages(run_id)

    def stage(self, run_id: str, name: str) -> StageState:
        rows = self.target.stages(run_id)
        for row in rows:
            if row.stage == name:
                return row
        known = ", ".join(r.stage for r in rows)
        raise NotFoundError(f"run {run_id} has no stage '{name}' (stages: {known})")

    def runs(self, deployment: str | None = None, limit: int = 50) -> list[Run]:
        return self.target.runs(deployment, limit, with_plan=False)

    def events(self, run_id: str, after: int = 0) -> list[Event]:
        return self.target.events(run_id, after)

    # -- state -----------------------------------------------------------------------------

    @staticmethod
    def settled(run: Run) -> bool:
        return states.settled(run.status)

    def urls(self, run_id: str) -> dict[str, str]:
        """Where the run's services answer (those that are ready or restarting)."""
        return urls_of(self.target.stages(run_id))

    def ingress_urls(self, run_id: str) -> dict[str, str | None]:
        """Where the run's ready services are reached from outside the cluster (an
        Ingress): a URL, or None while the Ingress has no address yet."""
        ready = self.urls(run_id)
        return {s: u for s, u in self.target.ingress_urls(run_id).items() if s in ready}

    def wait(self, ref: str, timeout: float | None = None, poll: float = POLL_SECONDS) -> Run:
        """Block until the run settles; TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_refresh = time.monotonic()
        run = self.find_run(ref)
        while not states.settled(run.status):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run.id} is still {run.status} after {timeout}s")
            time.sleep(poll)
            if time.monotonic() - last_refresh > 2:
                self.target.refresh()
                last_refresh = time.monotonic()
            run = self._summary(run.id)
        return self._full(run.id)

    # -- deployments ---------------------------------------------------------------------------

    def deployments(self, include_deleted: bool = False) -> list[DeploymentView]:
        return [self._view(d) for d in self.target.deployments(include_deleted)]

    def deployment(self, name: str) -> DeploymentView:
        record = self.target.get_deployment(name)
        if record is None:
            known = ", ".join(d.name for d in self.target.deployments()) or "none"
            raise NotFoundError(f"no deployment '{name}' (deployments: {known})")
        return self._view(record)

    def service_url(self, deployment: str, stage: str | None = None) -> tuple[str, str]:
        """Which service of ``deployment`` a request goes to, and its URL: ``stage``, or
        the one service it serves (``bodywork call``, the panel's "try it")."""
        view = self.deployment(deployment)
        urls = view.urls
        if not urls:
            raise BadInputError(
                f"deployment {deployment} serves nothing now ({view.status}) - see "
                f"bodywork get runs {deployment}"
            )
        if stage is None:
            if len(urls) > 1:
                raise BadInputError(
                    f"deployment {deployment} serves {', '.join(sorted(urls))} - name one"
                )
            stage = next(iter(urls))
        if stage not in urls:
            raise BadInputError(
                f"deployment {deployment} serves no stage {stage!r} (it serves "
                f"{', '.join(sorted(urls))})"
            )
        return stage, urls[stage]

    def _view(self, record: Deployment) -> DeploymentView:
        recent = self.target.runs(record.name, limit=RECENT_RUNS, with_plan=False)
        newest = recent[0] if recent else None
        serving = next((r for r in recent if r.status == states.DEPLOYED), None)
        if serving is None and len(recent) == RECENT_RUNS:
            # many failed redeploys in a row: the serving version is older than them all
            older = self.target.runs(record.name, limit=1, status=states.DEPLOYED)
            serving = older[0] if older else None
        rows = self.target.stages(serving.id) if serving else []
        urls = urls_of(rows)
        exits = self._exits(serving.id, rows) if serving else {}
        ingresses = self.target.ingress_urls(serving.id) if serving and urls else {}
        ingresses = {s: u for s, u in ingresses.items() if s in urls}
        status: DeploymentStatus
        if record.status in (states.DELETING, states.DELETED):
            status = states.DELETING if record.status == states.DELETING else states.DELETED
        elif newest is not None and newest.status in (states.QUEUED, states.RUNNING):
            status = states.RUNNING
        elif serving is not None:
            status = states.FAILING if exits else states.SERVING
        elif newest is not None:
            status = _finished_status(newest.status)
        else:
            status = states.PENDING
        return DeploymentView(record, status, newest, serving, urls, ingresses, exits)

    def serving_instead(self, run: Run) -> DeploymentView | None:
        """``run``'s deployment when ``run`` ended without deploying (failed, cancelled,
        lost) and an earlier version keeps serving; else None."""
        if run.status not in KEPT_SERVING_AFTER:
            return None
        try:
            view = self.deployment(run.deployment)
        except NotFoundError:  # deleted meanwhile: nothing of it serves
            return None
        serving = view.serving_run
        if serving is None or serving.id == run.id or serving.created > run.created:
            return None
        return view

    def _exits(self, run_id: str, rows: list[StageState]) -> dict[str, ServiceExit]:
        """Each restarting service's newest ``service.exited`` (read only when one is)."""
        restarting = {r.stage: r for r in rows if r.status == states.RESTARTING}
        if not restarting:
            return {}
        found = {
            e.stage: e
            for e in self.target.events(run_id)
            if e.type == "service.exited" and e.stage in restarting
        }
        exits = {}
        for name, row in restarting.items():
            event = found.get(name)
            if event is None:  # said by the stage's row alone
                exits[name] = ServiceExit(name, row.message)
                continue
            code = event.data.get("exit_code")
            exits[name] = ServiceExit(
                name,
                str(event.data.get("message") or row.message),
                code if isinstance(code, int) else None,
                tuple(str(line) for line in event.data.get("log_tail") or ()),
                event.time,
            )
        return exits

    # -- logs --------------------------------------------------------------------------------

    def log(self, run_id: str, stage: str, offset: int = 0, limit: int = LOG_CHUNK) -> LogChunk:
        """Whole lines from byte ``offset`` (a trailing partial line waits for its end).

        Offsets are positions in the stage's raw log (which also holds the runner's event
        lines, left out of ``text``): resume from ``next_offset``. An offset that falls
        inside a line moves on to the start of the next line.
        """
        run = self._summary(run_id)
        row = self.stage(run.id, stage)
        done = row.status in states.STAGE_FINISHED or states.finished(run.status)
        offset = max(offset, 0)
        if not row.attempt:
            return LogChunk(stage, 0, "", offset, offset, True, done)
        start = offset
        if start > 0:
            # an offset inside a line (a client's guess) moves to the start of the next one
            raw, size = self.target.read_log(run.id, row, start - 1, limit + 1)
            start = min(start, size)
            if raw[:1] != b"\n":
                cut = raw.find(b"\n")
                if cut < 0:
                    return LogChunk(stage, row.attempt, "", start, start, True, done)
                start = start - 1 + cut + 1
                raw = raw[cut + 1 :]
            else:
                raw = raw[1:]
        else:
            raw, size = self.target.read_log(run.id, row, 0, limit)
        end = start + len(raw)
        if end < size or not done:
            cut = raw.rfind(b"\n") + 1
            if cut > 0:
                raw, end = raw[:cut], start + cut
            elif end >= size:
                raw, end = b"", start  # a partial last line: wait for the rest
            # else: one line longer than the limit, given in pieces
        text = raw.decode("utf-8", errors="replace")
        lines = [ln for ln in text.splitlines(True) if not ln.startswith(EVENT_PREFIX)]
        eof = end >= size
        return LogChunk(stage, row.attempt, "".join(lines), start, end, eof, done and eof)

    def log_text(self, run_id: str, stage: str | None = None) -> str:
        """A stage's whole log (or every stage's, each line prefixed by its stage)."""
        parts = []
        for row in self.target.stages(run_id):
            if stage is not None and row.stage != stage:
                continue
            text = "".join(chunk.text for chunk in self._chunks(run_id, row.stage))
            if stage is None:
                text = "".join(f"{row.stage}| {line}" for line in text.splitlines(True))
            parts.append(text.rstrip("\n"))
        return "\n".join(p for p in parts if p)

    def _chunks(self, run_id: str, stage: str) -> Iterator[LogChunk]:
        offset = 0
        while True:
            chunk = self.log(run_id, stage, offset)
            yield chunk
            if chunk.eof or chunk.next_offset == offset:
                return
            offset = chunk.next_offset

    def follow(
        self,
        run_id: str,
        stage: str | None = None,
        poll: float = POLL_SECONDS,
        follow: bool = True,
    ) -> Iterator[LogChunk]:
        """New log lines of one stage (or all) as they arrive, until the run settles.

        A stage that starts a new attempt starts its log again from the top.
        """
        offsets: dict[str, tuple[int, int]] = {}  # stage -> (attempt, offset)
        last_refresh = time.monotonic()
        while True:
            run = self._summary(run_id)
            for row in self.target.stages(run_id):
                if stage is not None and row.stage != stage:
                    continue
                attempt, offset = offsets.get(row.stage, (row.attempt, 0))
                if attempt != row.attempt:
                    attempt, offset = row.attempt, 0
                while True:
                    chunk = self.log(run_id, row.stage, offset)
                    if chunk.text:
                        yield chunk
                    moved = chunk.next_offset != offset
                    offset = chunk.next_offset
                    if chunk.eof or not moved:
                        break
                offsets[row.stage] = (attempt, offset)
            if not follow or states.settled(run.status):
                return
            time.sleep(poll)
            if time.monotonic() - last_refresh > 2:
                self.target.refresh()
                last_refresh = time.monotonic()

    def executed_notebook(self, run_id: str, stage: str) -> bytes:
        row = self.stage(run_id, stage)
        content = self.target.executed_notebook(run_id, row)
        if content is None:
            raise NotFoundError(f"stage '{stage}' of run {run_id} has no executed notebook")
        return content


def ingress_note(url: str | None) -> str:
    """A service's Ingress as people read it, beside its in-cluster URL."""
    return f"ingress: {url}" if url else "ingress: waiting for an address"


def commit_of(run: Run | None) -> str | None:
    """The commit a run deployed (None for a folder outside git)."""
    commit = run.source.get("commit") if run is not None else None
    return str(commit) if commit else None


def version_text(run: Run) -> str:
    """A run as the version it deployed: ``run ID (commit abcd1234)``."""
    commit = commit_of(run)
    return f"run {run.id} (commit {commit[:SHORT_COMMIT]})" if commit else f"run {run.id}"


def version_tag(run: Run) -> str:
    """The same in a table's cell: ``ID@abcd1234`` (``ID`` for a folder outside git)."""
    commit = commit_of(run)
    return f"{run.id}@{commit[:SHORT_COMMIT]}" if commit else run.id


def kept_serving_note(view: DeploymentView) -> str:
    """What keeps serving in place of a run that did not deploy (``serving_instead``)."""
    assert view.serving_run is not None
    note = f"the previous version keeps serving: {version_text(view.serving_run)}"
    at = {
        name: f"{url} ({ingress_note(view.ingresses[name])})" if name in view.ingresses else url
        for name, url in view.urls.items()
    }
    if len(at) == 1:
        return f"{note} at {next(iter(at.values()))}"
    if not at:
        return note
    return f"{note}: " + ", ".join(f"{name} at {url}" for name, url in at.items())


def examples_of(run: Run) -> dict[str, JsonValue]:
    """Each service's example request body, as the run's plan recorded it when it was
    deployed (its ``service.example``, else the literal its notebook or module passes to
    ``predict``: ``pipeline.service_examples``), by stage; a service without one is left
    out, as is every service of a run read without its plan or planned before examples."""
    planned = run.plan.get("stages")
    if not isinstance(planned, dict):
        return {}
    found: dict[str, JsonValue] = {}
    for name, stage in planned.items():
        service = stage.get("service") if isinstance(stage, dict) else None
        if isinstance(service, dict) and service.get("example") is not None:
            found[str(name)] = service["example"]
    return found


def urls_of(rows: list[StageState]) -> dict[str, str]:
    """Where ready services answer (a restarting one too: its other replicas may, and it
    answers there again once restarted)."""
    serving = (states.READY, states.RESTARTING)
    return {s.stage: s.url for s in rows if s.url and s.status in serving}


def _finished_status(status: str) -> DeploymentStatus:
    mapping: dict[str, DeploymentStatus] = {
        states.SUCCEEDED: states.SUCCEEDED,
        states.FAILED: states.FAILED,
        states.CANCELLED: states.CANCELLED,
        states.LOST: states.LOST,
        states.STOPPED: states.STOPPED,
    }
    return mapping.get(status, states.PENDING)
