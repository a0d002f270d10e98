"""Redeploys under load on this machine: what each fault scenario did, as data.

Each scenario deploys v1 of a small project through the ``bodywork`` CLI, starts a load
(``tests/load.py``) on its service's declared port, brings a v2 that is good, broken or
cancelled (or kills a replica while v2's run is busy), keeps the load a little longer,
and returns what happened: the load's report and when (in the load's seconds) each step
was taken. Nothing is asserted here: tests/engine/test_redeploy_faults.py asserts, and
benchmarks/bench_redeploy.py prints the figures. Every wait is bounded; a scenario takes
well under a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bodywork_jupyter.engine import states
from bodywork_jupyter.engine.store import RunStore
from tests.engine.helpers import Bodywork, events, run_id_of
from tests.load import Load, Report
from tests.projects import free_port, git_commit, notebook, write_yaml

#: clients of every load (each one keep-alive connection)
THREADS = 4
#: clients of the good redeploy's load that reuse a connection without looking (as wrk)
NAIVE = 2
#: each client opens a new connection after this many answers: replicas accept
#: connections, so new ones are what show where traffic goes (and kept-alive ones stay)
REQUESTS_PER_CONNECTION = 25
#: a scenario's load stops by itself after this, whatever happens
LOAD_CAP_SECONDS = 75.0
#: how long the load goes on once a redeploy has settled
AFTER_SECONDS = 2.0
#: a CLI command that takes longer is a failure of the scenario
COMMAND_SECONDS = 90.0
#: runs that are still going: anything else has settled
UNSETTLED = frozenset({states.QUEUED, states.RUNNING})

#: a notebook service saying which version (and which replica) answered
SERVE = """
import os
VERSION = {version}

def predict(request):
    return {{"version": VERSION, "pid": os.getpid()}}
"""

#: a module that binds its port itself (Bodywork's way): HTTP/1.1 keep-alive, JSON answers
MODULE = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer()

    def do_GET(self):
        self._answer()

    def _answer(self):
        body = json.dumps({{"version": {version}, "pid": os.getpid()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("0.0.0.0", {port}), Handler).serve_forever()
"""

#: a local package whose build fails at once, offline (an in-tree backend, no build deps)
BROKEN_BUILD = {
    "pyproject.toml": """
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]

        [project]
        name = "broken-build"
        version = "0.0.1"
        """,
    "backend.py": """
        def get_requires_for_build_wheel(config_settings=None):
            return []

        def build_wheel(*args, **kwargs):
            raise SystemExit("broken-build: this package fails to build, on purpose")

        build_sdist = build_editable = build_wheel
        """,
}


@dataclass
class Outcome:
    """What one scenario did: the load's report and its marks (seconds since the load
    began: ``redeploy``, ``redeployed``, ``ready``, ``cancel``, ``killed``...)."""

    name: str
    report: Report
    first_run: str  # v1's run, serving when the load began
    run_id: str | None = None  # the redeploy's run
    marks: dict[str, float] = field(default_factory=dict)
    redeploy: subprocess.CompletedProcess[str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The report and the marks, for an assertion message."""
        marks = ", ".join(f"{k} {v:.2f}s" for k, v in self.marks.items())
        said = ""
        if self.redeploy is not None:
            said = f"\nredeploy exit {self.redeploy.returncode}:\n{self.redeploy.stdout[-1500:]}"
            said += self.redeploy.stderr[-1500:]
        return f"{self.name}: {marks}\n{self.report.describe()}{said}"


# -- projects --------------------------------------------------------------------------------


def serve_notebook(project: Path, version: int, *, broken: bool = False) -> None:
    if broken:
        notebook(project / "serve.ipynb", f"raise RuntimeError('v{version} is broken')")
    else:
        notebook(project / "serve.ipynb", SERVE.format(version=version))


def batch_notebook(project: Path, name: str, *, sleep: float = 0, fail: bool = False) -> None:
    cells = [f"import time\ntime.sleep({sleep})"]
    if fail:
        cells.append(f"raise RuntimeError('{name} fails after the service is ready')")
    notebook(project / f"{name}.ipynb", *cells)


def pipeline(
    project: Path, name: str, port: int, *later: str, replicas: int = 2, before: str | None = None
) -> None:
    """bodywork.yaml: ``serve`` on ``port``; each of ``later`` a batch stage after it
    (``name`` or ``name:timeout``); ``before``: a batch stage ``serve`` waits for."""
    lines = [
        'version: "2.0"',
        f"pipeline: {{name: {name}}}",
        "stages:",
    ]
    depends = ""
    if before is not None:
        lines.append(f"  {before}: {{path: {before}.ipynb, timeout: 120}}")
        depends = f", depends_on: [{before}]"
    lines.append(
        f"  serve: {{path: serve.ipynb{depends}, service: {{port: {port}, replicas: {replicas}}}}}"
    )
    for stage in later:
        lines.append(f"  {stage}: {{path: {stage}.ipynb, depends_on: [serve], timeout: 120}}")
    write_yaml(project, "\n".join(lines) + "\n")


def module_project(
    project: Path, name: str, port: int, version: int, requirements: list[str] | None = None
) -> None:
    (project / "serve").mkdir(parents=True, exist_ok=True)
    (project / "serve" / "serve.py").write_text(
        MODULE.format(version=version, port=port), encoding="utf-8"
    )
    extra = f", requirements: [{', '.join(requirements)}]" if requirements else ""
    write_yaml(
        project,
        f'version: "2.0"\npipeline: {{name: {name}}}\n'
        f"stages:\n  serve: {{path: serve/serve.py{extra}, service: {{port: {port}}}}}\n",
    )


def broken_package(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in BROKEN_BUILD.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


# -- steps -----------------------------------------------------------------------------------


def until(check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """``check()``'s first true value within ``timeout`` s; None when there was none."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(every)


def store(bw: Bodywork) -> RunStore:
    return RunStore(bw.state_dir)


def deploy(bw: Bodywork, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return bw("deploy", project, *args, timeout=COMMAND_SECONDS)


def deployed(bw: Bodywork, project: Path) -> str:
    """Deploys v1; its run id (it must serve: the scenario starts from there)."""
    result = deploy(bw, project)
    if result.returncode != 0:
        raise AssertionError(f"v1 did not deploy:\n{result.stdout}\n{result.stderr}")
    return run_id_of(result)


def run_status(bw: Bodywork, run_id: str) -> str | None:
    run = store(bw).get_run(run_id, with_plan=False)
    return None if run is None else str(run.status)


def stage_status(bw: Bodywork, run_id: str, stage: str) -> str | None:
    for row in store(bw).stages(run_id):
        if row.stage == stage:
            return str(row.status)
    return None


def stage_pids(bw: Bodywork, run_id: str, stage: str) -> list[int]:
    """The runner pids the stage's stored ref names (its first processes)."""
    for row in store(bw).stages(run_id):
        if row.stage == stage and row.ref:
            return [int(pid) for pid in row.ref.get("pids", []) if pid]
    return []


def settled(bw: Bodywork, run_id: str) -> str | None:
    status = run_status(bw, run_id)
    return status if status is not None and status not in UNSETTLED else None


def event_times(bw: Bodywork, run_id: str, *types: str) -> dict[str, float]:
    """The first time (epoch seconds) each of ``types`` was recorded for the run."""
    found: dict[str, float] = {}
    for event in events(bw, run_id):
        kind = str(event["type"])
        if kind in types and kind not in found:
            found[kind] = float(event["time"])  # type: ignore[arg-type]
    return found


def fresh_pids(port: int, count: int, rounds: int = 10) -> list[Any]:
    """Which replicas answer ``count`` clients connecting at once (each on a new
    connection), over rounds until two replicas have answered or ``rounds`` are done: the
    replicas accept from the declared port's socket, and clients one after another may
    find the same one every time."""

    def one(_: int) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=b"{}",
            headers={"content-type": "application/json", "connection": "close"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read()).get("pid")
        except (OSError, ValueError) as exc:
            return type(exc).__name__

    pids: list[Any] = []
    with ThreadPoolExecutor(count) as pool:
        for _ in range(rounds):
            pids.extend(pool.map(one, range(count)))
            if len(set(pids)) > 1:
                break
    return pids


def started_load(port: int, path: str = "/predict", naive: int = 0) -> Load:
    """The scenario's load, answered by v1 already: THREADS clients that look before they
    reuse a connection, and ``naive`` more that do not (as wrk)."""
    load = Load(
        f"http://127.0.0.1:{port}{path}",
        {"x": 1},
        threads=THREADS + naive,
        naive=naive,
        max_seconds=LOAD_CAP_SECONDS,
        requests_per_connection=REQUESTS_PER_CONNECTION,
    )
    load.start()
    load.wait_for(lambda report: report.sent >= 20 and not report.failed, timeout=10)
    return load


def hold(seconds: float = AFTER_SECONDS) -> None:
    """Lets the load go on for ``seconds``."""
    time.sleep(seconds)


def redeployed_under_load(
    bw: Bodywork, project: Path, port: int, path: str = "/predict", *, naive: int = 0
) -> tuple[Report, dict[str, float], subprocess.CompletedProcess[str]]:
    """Deploy ``project`` again (following it to its end) while load runs on ``port``,
    then a moment more: the load's report, the moments marked, and the deploy's result."""
    load = started_load(port, path, naive=naive)
    try:
        marks = {"redeploy": load.now()}
        result = deploy(bw, project)
        marks["redeployed"] = load.now()
        hold()
    finally:
        report = load.stop()
    return report, marks, result


# -- the scenarios ---------------------------------------------------------------------------


def good_redeploy(bw: Bodywork, folder: Path) -> Outcome:
    """v1 -> v2, both good, two replicas each."""
    project, port = folder / "good", free_port()
    serve_notebook(project, 1)
    pipeline(project, "good", port)
    git_commit(project, "v1")
    first = deployed(bw, project)
    serve_notebook(project, 2)
    git_commit(project, "v2")
    # wrk-like clients too: a kept-alive connection cut instead of told to close costs them
    report, marks, result = redeployed_under_load(bw, project, port, naive=NAIVE)
    return Outcome("good redeploy", report, first, run_id_of(result), marks, result)


def broken_service(bw: Bodywork, folder: Path) -> Outcome:
    """v2's service raises while it starts: it is never ready."""
    project, port = folder / "broken-service", free_port()
    serve_notebook(project, 1)
    pipeline(project, "broken-service", port)
    git_commit(project, "v1")
    first = deployed(bw, project)
    serve_notebook(project, 2, broken=True)
    git_commit(project, "v2")
    report, marks, result = redeployed_under_load(bw, project, port)
    return Outcome("broken service", report, first, run_id_of(result), marks, result)


def broken_later_stage(bw: Bodywork, folder: Path) -> Outcome:
    """v2's service is ready, then a batch stage after it fails (3 s later)."""
    project, port = folder / "broken-later", free_port()
    serve_notebook(project, 1)
    batch_notebook(project, "check")
    pipeline(project, "broken-later", port, "check")
    git_commit(project, "v1")
    first = deployed(bw, project)
    serve_notebook(project, 2)
    batch_notebook(project, "check", sleep=3, fail=True)
    git_commit(project, "v2")
    report, marks, result = redeployed_under_load(bw, project, port)
    run_id = run_id_of(result)
    outcome = Outcome("broken later stage", report, first, run_id, marks, result)
    outcome.facts["order"] = [
        (e["type"], e["stage"])
        for e in events(bw, run_id)
        if e["type"] in ("stage.ready", "stage.failed")
    ]
    return outcome


def cancelled_redeploy(bw: Bodywork, folder: Path) -> Outcome:
    """v2's service is ready, its run busy with a slow batch stage: ``bodywork cancel``."""
    project, port = folder / "cancelled", free_port()
    serve_notebook(project, 1)
    batch_notebook(project, "train")
    pipeline(project, "cancelled", port, "train")
    git_commit(project, "v1")
    first = deployed(bw, project)
    serve_notebook(project, 2)
    batch_notebook(project, "train", sleep=60)
    git_commit(project, "v2")
    load = started_load(port)
    run_id: str | None = None
    facts: dict[str, Any] = {}
    try:
        marks = {"redeploy": load.now()}
        result = deploy(bw, project, "--detach")
        run_id = run_id_of(result)
        ready = until(lambda: stage_status(bw, run_id, "serve") == states.READY, timeout=30)
        marks["ready"] = load.now()
        facts["ready"] = bool(ready)
        hold(1.5)  # v2 is ready and its run still going: who answers now?
        marks["cancel"] = load.now()
        facts["cancel"] = bw("cancel", run_id, timeout=COMMAND_SECONDS)
        facts["status"] = until(lambda: settled(bw, run_id), timeout=30)
        marks["settled"] = load.now()
        hold()
    finally:
        report = load.stop()
    return Outcome("cancelled redeploy", report, first, run_id, marks, result, facts)


def killed_replica(bw: Bodywork, folder: Path, *, after_new_service: bool = False) -> Outcome:
    """kill -9 of a serving (v1) replica while a redeploy's slow batch stage runs: before
    v2's service starts, or (``after_new_service``) after it, once v2's service is ready."""
    project, port = folder / "killed", free_port()
    serve_notebook(project, 1)
    batch_notebook(project, "train")
    if after_new_service:
        pipeline(project, "killed", port, "train")
    else:
        pipeline(project, "killed", port, before="train")
    git_commit(project, "v1")
    first = deployed(bw, project)
    serve_notebook(project, 2)
    batch_notebook(project, "train", sleep=45)  # the run is busy meanwhile
    git_commit(project, "v2")
    pids = stage_pids(bw, first, "serve")
    load = started_load(port)
    run_id: str | None = None
    facts: dict[str, Any] = {"pids": pids}
    try:
        marks = {"redeploy": load.now()}
        result = deploy(bw, project, "--detach")
        run_id = run_id_of(result)
        facts["busy"] = bool(
            until(lambda: stage_status(bw, run_id, "train") == states.RUNNING, timeout=30)
        )
        hold(0.5)
        victim = pids[0]
        facts["victim"] = victim
        os.kill(victim, signal.SIGKILL)
        marks["killed"] = load.now()

        def restarted() -> dict[str, float] | None:
            seen = event_times(bw, first, "service.exited", "service.restarted")
            return seen if "service.restarted" in seen else None

        until(restarted, timeout=20)
        marks["restarted"] = load.now()
        facts["run_status_at_restart"] = run_status(bw, run_id)
        recovered = until(lambda: event_times(bw, first, "service.recovered"), timeout=15)
        marks["recovered"] = load.now()
        facts["recovered"] = bool(recovered)
        hold(1.5)
        # the load's kept-alive connections stay on the replica they had: the replicas
        # accept new ones from the shared socket, the least busy first
        facts["fresh_pids"] = fresh_pids(port, 6)
    finally:
        report = load.stop()
    if run_id is not None:
        facts["cancel"] = bw("cancel", run_id, timeout=COMMAND_SECONDS)
        facts["status"] = until(lambda: settled(bw, run_id), timeout=30)
        ended = event_times(bw, run_id, "run.cancelled", "run.failed", "run.deployed")
        facts["run_ended"] = min(ended.values(), default=None)
    facts["service_events"] = event_times(
        bw, first, "service.exited", "service.restarted", "service.recovered"
    )
    title = "kill -9 of a replica" + (" (v2 ready)" if after_new_service else "")
    return Outcome(title, report, first, run_id, marks, result, facts)


def killed_replica_after_new_service(bw: Bodywork, folder: Path) -> Outcome:
    return killed_replica(bw, folder, after_new_service=True)


def module_failed_build(bw: Bodywork, folder: Path) -> Outcome:
    """A module service (it binds its port itself) whose v2 requirements cannot build."""
    project, port = folder / "module", free_port()
    module_project(project, "module-build", port, 1)
    git_commit(project, "v1")
    first = deployed(bw, project)
    module_project(project, "module-build", port, 2, requirements=["./broken-build"])
    broken_package(project / "broken-build")
    git_commit(project, "v2")
    report, marks, result = redeployed_under_load(bw, project, port, "/")
    return Outcome("module: failing build", report, first, run_id_of(result), marks, result)


#: every scenario, in the order the benchmark runs them
SCENARIOS: dict[str, Callable[[Bodywork, Path], Outcome]] = {
    "good": good_redeploy,
    "broken-service": broken_service,
    "broken-later-stage": broken_later_stage,
    "cancelled": cancelled_redeploy,
    "killed-replica": killed_replica,
    "killed-replica-v2-ready": killed_replica_after_new_service,
    "module-failed-build": module_failed_build,
}


def clean_up(bw: Bodywork) -> None:
    """Deletes every deployment of ``bw``'s state folder (nothing may outlive a scenario)."""
    for deployment in store(bw).deployments():
        bw("delete", "deployment", deployment.name, timeout=COMMAND_SECONDS)
