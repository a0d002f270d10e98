"""Issue 9 (speed): edge latency and the 1 -> 8 -> 1 DAG on the Kubernetes test cluster.

1. **Edge latency.** A chain of 12 trivial notebook stages (a1 -> a2 -> ... -> a12) is run
   by the real ``Engine(KubernetesBackend(...))`` from this process, with the recorder an
   in-cluster controller uses (``RecordWriter``: a local working store, flushed to
   ConfigMaps in the background). An independent watcher (its own API client, its own
   list + watch of the namespace's Jobs, in a thread of its own) records when it received
   each Job's creation and each Job's ``Complete`` condition; an edge is
   ``next Job seen created - previous Job seen Complete``. The objects' own timestamps
   (``creationTimestamp``, the condition's ``lastTransitionTime``) are whole seconds, so
   they are reported as a coarse cross-check only.

   A control in the same run: the same chain of Jobs, each ``sh -c true``, created by a
   tiny loop of this script watching for ``Complete`` (no engine, no backend, no runner):
   what the cluster itself allows.

2. **The DAG.** The 10 notebooks of ``bench_dag.py`` (1 -> 8 -> 1) on the test cluster
   with ``max_parallel`` 8, against the same project deployed with ``bodywork deploy``
   on the local target (the CLI, as ``bench_dag.py`` runs it; its default max_parallel 4,
   and ``--max-parallel 8``), alternating, in the same run.

Needs the test cluster: ``/tmp/bodywork-testcluster/kubeconfig`` if it exists, else it is
started with ``scripts/testcluster up`` (and left running: others use it). Every object
is made in namespaces of its own (``bench-k8s-*``, labelled), deleted at the end; every
engine run is bounded (``--limit``), and so is the whole script (``--budget``).

Run from the repository root::

    .venv/bin/python benchmarks/bench_k8s.py            # --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# bench_dag.py is next to this file (sys.path[0] when run as a script): the same notebooks
from bench_dag import BIN, MIDDLE, latest_run, notebook, stage_breakdown, write_bodywork_project
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from bodywork_jupyter.backends.kubernetes.backend import KubeHandle, KubernetesBackend
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_write import RecordWriter
from bodywork_jupyter.engine.engine import Engine
from bodywork_jupyter.engine.store import Event
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Plan, plan_pipeline
from bodywork_jupyter.plan.kubernetes import KubernetesOptions
from bodywork_jupyter.plan.kubernetes.labels import LABEL_RUN, LABEL_STAGE
from bodywork_runner.spec import Source

ROOT = Path(__file__).resolve().parent.parent
KUBECONFIG = Path("/tmp/bodywork-testcluster/kubeconfig")
CHAIN = [f"a{i}" for i in range(1, 13)]
#: marks the namespaces this script makes (and may sweep if a killed run left one)
BENCH_LABEL = "bodywork.dev/benchmark"
BENCH_VALUE = "bench-k8s"
#: a namespace of ours older than this is a leftover of a killed run
STALE_SECONDS = 2 * 3600
GOAL_P50_MS = 100.0
GOAL_P95_MS = 300.0


class OutOfTime(Exception):
    """The script's own time budget (or a signal) ended it."""


# -- the cluster ---------------------------------------------------------------------------------


def kubeconfig() -> str:
    if KUBECONFIG.exists():
        return str(KUBECONFIG)
    print("starting the test cluster (scripts/testcluster up) ...", file=sys.stderr)
    started = subprocess.run(
        [str(ROOT / "scripts" / "testcluster"), "up"],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if started.returncode != 0:
        raise SystemExit(f"scripts/testcluster up failed:\n{started.stderr[-3000:]}")
    return started.stdout.strip().splitlines()[-1]


class Namespaces:
    """The namespaces this run made: each deleted when done with, and all at the end."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core
        self.made: list[str] = []
        self.deleted: list[tuple[str, float | None]] = []  # name, seconds until gone

    def sweep_stale(self) -> list[str]:
        """Delete namespaces of ours that a killed run left behind (older than 2 h)."""
        found = self.core.list_namespace(label_selector=f"{BENCH_LABEL}={BENCH_VALUE}").items
        now = datetime.now(UTC)
        stale = [
            n.metadata.name
            for n in found
            if (now - n.metadata.creation_timestamp).total_seconds() > STALE_SECONDS
        ]
        for name in stale:
            with contextlib.suppress(ApiException):
                self.core.delete_namespace(name)
        return stale

    def create(self, purpose: str) -> str:
        name = f"bench-k8s-{purpose}-{uuid.uuid4().hex[:5]}"
        meta = client.V1ObjectMeta(name=name, labels={BENCH_LABEL: BENCH_VALUE})
        self.core.create_namespace(client.V1Namespace(metadata=meta))
        self.made.append(name)
        # the account the stage pods run under (bodywork configure-cluster makes it)
        account = client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="bodywork-stage"),
            automount_service_account_token=False,
        )
        self.core.create_namespaced_service_account(name, account)
        return name

    def delete(self, name: str, wait: float = 90.0) -> None:
        if name not in self.made:
            return
        self.made.remove(name)
        started = time.monotonic()
        try:
            self.core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        gone: float | None = None
        while time.monotonic() - started < wait:
            try:
                self.core.read_namespace(name)
            except ApiException as exc:
                if exc.status == 404:
                    gone = time.monotonic() - started
                    break
                raise
            time.sleep(0.5)
        self.deleted.append((name, gone))

    def delete_all(self) -> None:
        for name in list(self.made):
            try:
                self.delete(name, wait=60.0)
            except Exception as exc:
                print(f"could not delete namespace {name}: {exc!r}", file=sys.stderr)


# -- the independent watcher ---------------------------------------------------------------------


@dataclass
class Seen:
    """One Job as the watcher saw it. ``*_at``: perf_counter; ``*_wall``: time.time()."""

    name: str
    labels: dict[str, str]
    created_at: float | None = None  # None: it was there before the watch began
    created_wall: float | None = None
    created_how: str = ""
    complete_at: float | None = None
    complete_wall: float | None = None
    creation_timestamp: str = ""
    complete_transition: str = ""
    pod_running_at: float | None = None
    pod_succeeded_at: float | None = None

    def phases(self) -> tuple[float | None, float | None, float | None, float | None]:
        """Seen created -> pod Running -> pod Succeeded -> Job Complete, and in all."""

        def span(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        return (
            span(self.created_at, self.pod_running_at),
            span(self.pod_running_at, self.pod_succeeded_at),
            span(self.pod_succeeded_at, self.complete_at),
            span(self.created_at, self.complete_at),
        )


class JobWatcher:
    """When each Job of ``namespace`` was seen created and seen ``Complete`` (and when its
    pod was seen Running and Succeeded): a client and watches of its own (list, then watch
    from the list's resourceVersion; a watch that times out resumes, 410 Gone lists
    again), each in a thread of its own."""

    def __init__(self, kubeconfig_path: str, namespace: str) -> None:
        self.api = config.new_client_from_config(config_file=kubeconfig_path)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.namespace = namespace
        self.jobs: dict[str, Seen] = {}
        #: Job name -> when its (first) pod was seen Running / Succeeded (perf_counter)
        self.pod_running: dict[str, float] = {}
        self.pod_succeeded: dict[str, float] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watches: list[Any] = []
        self._threads: list[tuple[threading.Thread, threading.Event]] = []
        for what, list_function, handle in (
            ("jobs", self.batch.list_namespaced_job, self._saw),
            ("pods", self.core.list_namespaced_pod, self._saw_pod),
        ):
            listed = threading.Event()
            thread = threading.Thread(
                target=self._run,
                args=(list_function, handle, listed),
                name=f"bench watcher {what}",
                daemon=True,
            )
            self._threads.append((thread, listed))

    def __enter__(self) -> JobWatcher:
        for thread, listed in self._threads:
            thread.start()
            if not listed.wait(30):
                raise RuntimeError(f"the watcher could not list {thread.name} of {self.namespace}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        for stream in list(self._watches):
            stream.stop()
        for thread, _ in self._threads:
            thread.join(5)
        self.api.close()

    def snapshot(self) -> dict[str, Seen]:
        with self._lock:
            return {
                name: dataclasses.replace(
                    seen,
                    pod_running_at=self.pod_running.get(name),
                    pod_succeeded_at=self.pod_succeeded.get(name),
                )
                for name, seen in self.jobs.items()
            }

    def _run(self, list_function: Any, handle: Any, listed: threading.Event) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._list(list_function, handle)
                    listed.set()
                version = self._follow(list_function, handle, version)
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                self.errors.append(f"{exc.status} {exc.reason}")
                self._stopped.wait(0.5)
            except Exception as exc:
                if self._stopped.is_set():
                    return
                self.errors.append(repr(exc))
                self._stopped.wait(0.5)

    def _list(self, list_function: Any, handle: Any) -> str:
        response = list_function(self.namespace, _preload_content=False)
        try:
            data = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        now, wall = time.perf_counter(), time.time()
        for item in data.get("items") or []:
            handle(item, "LISTED", now, wall)
        return str(data["metadata"]["resourceVersion"])

    def _follow(self, list_function: Any, handle: Any, version: str) -> str | None:
        stream = watch.Watch()
        self._watches.append(stream)
        events = stream.stream(
            list_function,
            self.namespace,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=30,
            _request_timeout=(10, 60),
        )
        try:
            for event in events:
                now, wall = time.perf_counter(), time.time()
                raw = event.get("raw_object") or {}
                kind = str(event.get("type"))
                if kind == "ERROR":
                    if raw.get("code") == 410:
                        return None
                    raise ApiException(status=raw.get("code"), reason=raw.get("message"))
                seen = (raw.get("metadata") or {}).get("resourceVersion")
                if seen:
                    version = str(seen)
                if kind != "BOOKMARK":
                    handle(raw, kind, now, wall)
                if self._stopped.is_set():
                    break
        finally:
            self._watches.remove(stream)
        return version

    def _saw_pod(self, pod: dict[str, Any], how: str, now: float, wall: float) -> None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        phase = (pod.get("status") or {}).get("phase")
        if job is None or how == "LISTED":
            return
        with self._lock:
            if phase in ("Running", "Succeeded"):
                self.pod_running.setdefault(job, now)
            if phase == "Succeeded":
                self.pod_succeeded.setdefault(job, now)

    def _saw(self, job: dict[str, Any], how: str, now: float, wall: float) -> None:
        meta = job.get("metadata") or {}
        name = str(meta.get("name"))
        with self._lock:
            seen = self.jobs.get(name)
            if seen is None:
                seen = Seen(name, dict(meta.get("labels") or {}))
                seen.creation_timestamp = str(meta.get("creationTimestamp") or "")
                seen.created_how = how
                if how != "LISTED":
                    seen.created_at, seen.created_wall = now, wall
                self.jobs[name] = seen
            if seen.complete_at is None:
                for condition in (job.get("status") or {}).get("conditions") or []:
                    if condition.get("type") == "Complete" and condition.get("status") == "True":
                        seen.complete_at, seen.complete_wall = now, wall
                        seen.complete_transition = str(condition.get("lastTransitionTime"))


def k8s_seconds(stamp: str) -> float:
    """An RFC 3339 timestamp of the API server (whole seconds) as a POSIX time."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


# -- projects ------------------------------------------------------------------------------------


def git_commit(folder: Path) -> str:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-C", str(folder)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def write_chain_project(folder: Path) -> None:
    folder.mkdir(parents=True)
    lines = ['version: "2.0"', "pipeline:", "  name: benchchain", "stages:"]
    previous = None
    for name in CHAIN:
        nb = notebook("x = 1", "y = x + 1\nprint(y)")
        (folder / f"{name}.ipynb").write_text(json.dumps(nb, indent=1))
        lines += [f"  {name}:", f"    path: {name}.ipynb"]
        if previous:
            lines += ["    depends_on:", f"      - {previous}"]
        previous = name
    (folder / "bodywork.yaml").write_text("\n".join(lines) + "\n")
    git_commit(folder)


def head(folder: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def plan_of(folder: Path) -> Plan:
    """Planned as the tests plan a project: from its commit, cloned through file://."""
    pipeline = load_pipeline(folder)
    return plan_pipeline(
        pipeline, Source(repo=folder.as_uri(), commit=head(folder), project_dir=".")
    )


# -- one engine run ------------------------------------------------------------------------------


@dataclass
class EngineRun:
    run_id: str
    status: str
    message: str
    seconds: float  # plan + engine run, as the engine would see it in a controller
    events: list[Event] = field(default_factory=list)
    plan: Plan | None = None


def run_engine(
    cluster: Cluster,
    namespace: str,
    folder: Path,
    records: Path,
    max_parallel: int,
    limit: float,
) -> EngineRun:
    """Plan ``folder`` and run it with ``Engine(KubernetesBackend)``, recording as a
    controller does (``RecordWriter``), within ``limit`` seconds."""
    options = KubernetesOptions(namespace=namespace)
    writer = RecordWriter(cluster, namespace, records)
    try:
        started = time.perf_counter()
        plan = plan_of(folder)
        run = writer.create_run(
            plan.pipeline,
            plan.pipeline,
            plan.source.model_dump(mode="json"),
            plan.model_dump(mode="json"),
            {"max_parallel": max_parallel},
        )
        backend = KubernetesBackend(cluster, options)
        engine: Engine[KubeHandle] = Engine(
            backend, writer, run.id, plan.pipeline, max_parallel=max_parallel
        )

        async def main() -> Any:
            try:
                return await asyncio.wait_for(engine.run(plan), limit)
            finally:
                await backend.close()

        try:
            result = asyncio.run(main())
            status, message = result.status, result.message
        except TimeoutError:
            status, message = "timed out", f"the engine run took longer than {limit:g}s"
        seconds = time.perf_counter() - started
        events = writer.store(run.id).events(run.id)
        return EngineRun(run.id, status, message, seconds, events, plan)
    finally:
        writer.close()


# -- 1. the chain --------------------------------------------------------------------------------


Phases = tuple[float | None, float | None, float | None, float | None]


@dataclass
class Edge:
    seconds: float  # watcher: next created - previous Complete (receive times)
    object_seconds: float  # creationTimestamp - lastTransitionTime (whole seconds)
    to_succeeded: float | None = None  # previous Complete seen -> engine's stage.succeeded
    succeeded_to_created: float | None = None  # stage.succeeded -> next Job seen created
    created_to_starting: float | None = None  # next Job seen created -> stage.starting


def chain_edges(
    order: list[str], jobs: dict[str, Seen], events: list[Event] | None = None
) -> tuple[list[Edge], list[Phases]]:
    """The edges between consecutive stages of ``order`` (Jobs by stage), and each
    Job's own time from seen created to seen Complete."""
    succeeded = {e.stage: e.time for e in events or [] if e.type == "stage.succeeded"}
    starting = {e.stage: e.time for e in events or [] if e.type == "stage.starting"}
    edges: list[Edge] = []
    for before, after in itertools.pairwise(order):
        done, made = jobs[before], jobs[after]
        assert done.complete_at is not None and made.created_at is not None, (before, after)
        edge = Edge(
            made.created_at - done.complete_at,
            k8s_seconds(made.creation_timestamp) - k8s_seconds(done.complete_transition),
        )
        if before in succeeded and done.complete_wall is not None:
            edge.to_succeeded = succeeded[before] - done.complete_wall
            if made.created_wall is not None:
                edge.succeeded_to_created = made.created_wall - succeeded[before]
        if after in starting and made.created_wall is not None:
            edge.created_to_starting = starting[after] - made.created_wall
        edges.append(edge)
    spans = [jobs[s].phases() for s in order]
    return edges, spans


def jobs_by_stage(jobs: dict[str, Seen], run_id: str, plan: Plan) -> dict[str, Seen]:
    names = {stage.k8s_name: name for name, stage in plan.stages.items()}
    return {
        names[seen.labels[LABEL_STAGE]]: seen
        for seen in jobs.values()
        if seen.labels.get(LABEL_RUN) == run_id and seen.labels.get(LABEL_STAGE) in names
    }


def control_chain(
    batch: client.BatchV1Api, namespace: str, tag: str, count: int, limit: float
) -> list[str]:
    """``count`` Jobs of ``sh -c true``, each created by this loop as soon as its own
    watch shows the previous one Complete: the cluster's floor, with no engine."""
    names = [f"ctl-{tag}-{i}" for i in range(1, count + 1)]

    def job(name: str) -> client.V1Job:
        container = client.V1Container(
            name="main", image="bodywork-testcluster/shell", command=["sh", "-c", "true"]
        )
        pod = client.V1PodSpec(
            restart_policy="Never", containers=[container], automount_service_account_token=False
        )
        return client.V1Job(
            metadata=client.V1ObjectMeta(name=name, labels={"bench-control": tag}),
            spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(spec=pod)),
        )

    deadline = time.monotonic() + limit
    listed = batch.list_namespaced_job(namespace, label_selector=f"bench-control={tag}")
    version = listed.metadata.resource_version
    batch.create_namespaced_job(namespace, job(names[0]))
    index = 0
    while index < count and time.monotonic() < deadline:
        stream = watch.Watch()
        for event in stream.stream(
            batch.list_namespaced_job,
            namespace,
            label_selector=f"bench-control={tag}",
            resource_version=version,
            timeout_seconds=max(1, int(deadline - time.monotonic())),
        ):
            raw = event["raw_object"]
            version = raw["metadata"]["resourceVersion"]
            if raw["metadata"]["name"] != names[index]:
                continue
            conditions = (raw.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Complete" and c["status"] == "True" for c in conditions):
                index += 1
                if index == count:
                    break
                batch.create_namespaced_job(namespace, job(names[index]))
        stream.stop()
    if index < count:
        raise RuntimeError(f"control chain: {index} of {count} Jobs completed within {limit:g}s")
    return names


# -- 2. the DAG on the local target --------------------------------------------------------------


def local_deploy(
    project: Path, state: Path, extra: list[str], limit: float
) -> tuple[float, str, list[float]]:
    """Seconds for one ``bodywork deploy`` on the local target ('' or why it failed), and
    each middle stage's time from ``stage.starting`` to ``stage.succeeded`` (its record)."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "BODYWORK_STATE_DIR": str(state),
    }
    bodywork = str(BIN / "bodywork")
    try:
        started = time.perf_counter()
        result = subprocess.run(
            [bodywork, "deploy", *extra, str(project)],
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            why = f"exit {result.returncode}: {(result.stdout + result.stderr)[-800:]}"
            return elapsed, why, []
        marks = stage_breakdown(state, latest_run(state))
        mids = [marks[m]["stage.succeeded"] - marks[m]["stage.starting"] for m in MIDDLE]
        return elapsed, "", mids
    except subprocess.TimeoutExpired:
        return limit, f"took longer than {limit:g}s", []
    finally:
        subprocess.run(
            [bodywork, "delete", "deployment", "benchdag"],
            env=env,
            capture_output=True,
            timeout=120,
        )


# -- statistics and tables -----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def edge_row(label: str, values: list[float], goal: bool) -> str:
    if not values:
        return f"| {label} | 0 | - | - | - | - |"
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    verdict = ""
    if goal:
        met = p50 * 1000 <= GOAL_P50_MS and p95 * 1000 <= GOAL_P95_MS
        verdict = "**met**" if met else "**not met**"
    return f"| {label} | {len(values)} | {ms(p50)} | {ms(p95)} | {ms(max(values))} | {verdict} |"


def counts(values: list[float]) -> str:
    tally: dict[int, int] = {}
    for value in values:
        tally[round(value)] = tally.get(round(value), 0) + 1
    return ", ".join(f"{k} s: {v}" for k, v in sorted(tally.items()))


def machine_line(runs: int, loads: list[tuple[str, tuple[float, float, float]]]) -> str:
    load = "; ".join(f"{what} {avg[0]:.2f}" for what, avg in loads)
    ci = Path("/tmp/ci2.log")
    ci_state = ""
    if ci.exists():
        done = any(line.startswith("rc=") for line in ci.read_text(errors="replace").splitlines())
        ci_state = f"; /tmp/ci2.log: {'finished' if done else 'STILL RUNNING'}"
    return (
        f"Machine: {time.strftime('%Y-%m-%d %H:%M')}, {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average (1 min) {load}{ci_state}; --runs {runs}."
    )


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each part (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed DAG runs of each (1)")
    parser.add_argument("--limit", type=float, default=300, help="seconds per engine run/deploy")
    parser.add_argument("--budget", type=int, default=3600, help="seconds for the whole script")
    parser.add_argument("--skip-dag", action="store_true", help="the edge latency only")
    args = parser.parse_args()

    def out_of_time(signum: int, frame: object) -> None:
        raise OutOfTime(f"stopped by signal {signum} (the budget is {args.budget}s)")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGTERM, out_of_time)
    signal.alarm(args.budget)

    path = kubeconfig()
    cluster = Cluster(kubeconfig=path)
    namespaces = Namespaces(cluster.core)
    stale = namespaces.sweep_stale()
    shared = Path(tempfile.mkdtemp(prefix="bench-k8s-", dir="/var/tmp"))  # pods see /var/tmp
    loads = [("before", os.getloadavg())]
    notes: list[str] = [f"swept leftover namespaces: {', '.join(stale)}"] if stale else []
    chain_runs: list[tuple[list[Edge], list[Phases]]] = []
    control_runs: list[tuple[list[Edge], list[Phases]]] = []
    dag_phases: list[Phases] = []
    chain_seconds: list[float] = []
    dag_rows: dict[str, list[float]] = {}
    dag_mids: dict[str, list[float]] = {}
    dag_order: list[str] = []
    fan: dict[str, list[float]] = {"out": [], "in": []}
    started = time.monotonic()
    try:
        # -- 1. the chain, and the control, alternating --------------------------------------
        chain = shared / "chain"
        write_chain_project(chain)
        for run in range(args.runs):
            namespace = namespaces.create("chain")
            with JobWatcher(path, namespace) as watcher:
                result = run_engine(
                    cluster, namespace, chain, shared / f"records-chain-{run}", 1, args.limit
                )
                time.sleep(0.5)  # the last Complete reaches the watcher too
                jobs = watcher.snapshot()
                if result.status != "succeeded":
                    raise RuntimeError(f"chain run {run + 1}: {result.status}: {result.message}")
                assert result.plan is not None
                by_stage = jobs_by_stage(jobs, result.run_id, result.plan)
                chain_runs.append(chain_edges(CHAIN, by_stage, result.events))
                chain_seconds.append(result.seconds)
                if watcher.errors:
                    notes.append(f"chain watcher errors: {watcher.errors}")
            namespaces.delete(namespace)

            namespace = namespaces.create("ctl")
            with JobWatcher(path, namespace) as watcher:
                tag = f"r{run}"
                names = control_chain(cluster.batch, namespace, tag, len(CHAIN), args.limit)
                time.sleep(0.5)
                jobs = watcher.snapshot()
                control_runs.append(chain_edges(names, jobs))
            namespaces.delete(namespace)
            print(
                f"chain run {run + 1}/{args.runs} done ({time.monotonic() - started:.0f}s)",
                file=sys.stderr,
            )

        # -- 2. the DAG: test cluster vs local, alternating ----------------------------------
        if not args.skip_dag:
            dag = shared / "dag"
            write_bodywork_project(dag, requirements=False)
            variants: list[tuple[str, Callable[[int], tuple[float, str, list[float]]]]] = []

            def on_cluster(run: int) -> tuple[float, str, list[float]]:
                namespace = namespaces.create("dag")
                try:
                    with JobWatcher(path, namespace) as watcher:
                        result = run_engine(
                            cluster, namespace, dag, shared / f"records-dag-{run}", 8, args.limit
                        )
                        time.sleep(0.5)
                        jobs = watcher.snapshot()
                    if result.status != "succeeded":
                        return result.seconds, f"{result.status}: {result.message}", []
                    assert result.plan is not None
                    by_stage = jobs_by_stage(jobs, result.run_id, result.plan)
                    first_done = by_stage["first"].complete_at
                    mids_made = [by_stage[m].created_at for m in MIDDLE]
                    mids_done = [by_stage[m].complete_at for m in MIDDLE]
                    if run >= 0:
                        dag_phases.extend(by_stage[m].phases() for m in MIDDLE)
                    if run >= 0 and first_done is not None and None not in mids_made:
                        fan["out"].append(max(mids_made) - first_done)  # type: ignore[type-var,operator]
                    last_made = by_stage["last"].created_at
                    if run >= 0 and last_made is not None and None not in mids_done:
                        fan["in"].append(last_made - max(mids_done))  # type: ignore[type-var,operator]
                    mids = [p[3] for m in MIDDLE if (p := by_stage[m].phases())[3] is not None]
                    return result.seconds, "", mids
                finally:
                    namespaces.delete(namespace)

            variants.append(("test cluster: Engine(KubernetesBackend), max_parallel 8", on_cluster))
            variants.append(
                (
                    "local: `bodywork deploy DIR` (default max_parallel 4)",
                    lambda run: local_deploy(dag, shared / f"state-{run}", [], args.limit),
                )
            )
            variants.append(
                (
                    "local: `bodywork deploy --max-parallel 8 DIR`",
                    lambda run: local_deploy(
                        dag, shared / f"state8-{run}", ["--max-parallel", "8"], args.limit
                    ),
                )
            )
            for label, _ in variants:
                dag_rows[label] = []
            for run in range(-args.warmup, args.runs):  # negative: warm-up, not counted
                for index, (label, go) in enumerate(variants):
                    elapsed, failed, mids = go(run)
                    if failed:
                        notes.append(f"DAG run {run} of '{label}' failed: {failed}")
                    elif run >= 0:
                        dag_rows[label].append(elapsed)
                        dag_mids.setdefault(label, []).extend(mids)
                        dag_order.append(f"{'KLM'[index]}{run + 1} {elapsed:.1f}s")
                print(
                    f"DAG round {run + 1} done ({time.monotonic() - started:.0f}s)",
                    file=sys.stderr,
                )
    except OutOfTime as exc:
        notes.append(f"stopped early: {exc}")
    finally:
        signal.alarm(0)
        namespaces.delete_all()
        cluster.close()
        shutil.rmtree(shared, ignore_errors=True)
    loads.append(("after", os.getloadavg()))

    # -- tables ---------------------------------------------------------------------------------
    print(machine_line(args.runs, loads))
    print(f"Total {time.monotonic() - started:.0f} s.\n")
    edges = [e for run_edges, _ in chain_runs for e in run_edges]
    ctl = [e for run_edges, _ in control_runs for e in run_edges]
    print(
        f"Edge latency: {len(chain_runs)} runs x {len(CHAIN) - 1} edges of the chain "
        f"a1 -> ... -> a{len(CHAIN)}; the control: the same chain of `sh -c true` Jobs, "
        "created by a loop of this script on its own watch's Complete, in the same run.\n"
    )
    print(
        "| Edge: previous Job `Complete` -> next Job created | n | p50 ms | p95 ms | max ms "
        "| goal p50 <= 100, p95 <= 300 |"
    )
    print("|---|---:|---:|---:|---:|---|")
    print(
        edge_row(
            "Engine + KubernetesBackend (watcher's receive times)",
            [e.seconds for e in edges],
            goal=True,
        )
    )
    print(
        edge_row(
            "control: a bare loop, `sh -c true` Jobs (watcher's receive times)",
            [e.seconds for e in ctl],
            goal=False,
        )
    )
    print(
        "\nThe objects' own timestamps (`creationTimestamp` of the next Job minus the "
        "`lastTransitionTime` of the previous Job's `Complete`; whole seconds): "
        f"engine {counts([e.object_seconds for e in edges]) or '-'}; "
        f"control {counts([e.object_seconds for e in ctl]) or '-'}.\n"
    )
    print(
        "Where an engine edge goes (the watcher's wall clock against the run record's "
        "event times, same machine):\n"
    )
    print("| Step | n | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for label, values in (
        (
            "watcher sees `Complete` -> engine records `stage.succeeded`",
            [e.to_succeeded for e in edges if e.to_succeeded is not None],
        ),
        (
            "`stage.succeeded` -> watcher sees the next Job created",
            [e.succeeded_to_created for e in edges if e.succeeded_to_created is not None],
        ),
        (
            "(after) watcher sees it created -> engine records `stage.starting`",
            [e.created_to_starting for e in edges if e.created_to_starting is not None],
        ),
    ):
        if values:
            print(
                f"| {label} | {len(values)} | {ms(percentile(values, 0.5))} | "
                f"{ms(percentile(values, 0.95))} | {ms(max(values))} |"
            )
    print("\nOne Job, as the watcher saw it (median s; pods are processes on this machine):\n")
    print(
        "| Jobs | n | created -> pod Running | pod Running -> Succeeded "
        "| pod Succeeded -> Job `Complete` | created -> `Complete` |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, phases in (
        ("chain: a notebook stage (one at a time)", [p for _, r in chain_runs for p in r]),
        ("control: `sh -c true` (one at a time)", [p for _, r in control_runs for p in r]),
        ("DAG: the 8 middle stages (at once)", dag_phases),
    ):
        if phases:
            cells = []
            for index in range(4):
                values = [v for p in phases if (v := p[index]) is not None]
                cells.append(f"{statistics.median(values):.2f}" if values else "-")
            print(f"| {label} | {len(phases)} | {' | '.join(cells)} |")
    print(f"\nChain runs (plan + engine): {', '.join(f'{t:.1f}' for t in chain_seconds)} s.")
    per_run = [
        f"{ms(percentile([e.seconds for e in r], 0.5))}/{ms(max(e.seconds for e in r))}"
        for r, _ in chain_runs
    ]
    if per_run:
        print(f"Engine edges per run, p50/max ms: {', '.join(per_run)}.")

    if dag_rows:
        print(
            f"\nThe 1 -> 8 -> 1 DAG (bench_dag.py's 10 notebooks), {args.runs} timed runs each "
            f"after {args.warmup} warm-up, alternating:\n"
        )
        print("| Target | runs | min s | median s | max s | a middle stage, median s |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, values in dag_rows.items():
            mids = dag_mids.get(label) or []
            mid = f"{statistics.median(mids):.2f}" if mids else "-"
            if values:
                print(
                    f"| {label} | {len(values)} | {min(values):.2f} | "
                    f"{statistics.median(values):.2f} | {max(values):.2f} | {mid} |"
                )
            else:
                print(f"| {label} | 0 | - | - | - | - |")
        print(
            "\n(A middle stage: on the cluster its Job seen created -> seen `Complete`; "
            "locally its `stage.starting` -> `stage.succeeded` in the run record.)"
        )
        print(f"\nOrder (K cluster, L local, M local --max-parallel 8): {', '.join(dag_order)}")
        if fan["out"]:
            print(
                f"On the cluster: `first` Complete -> the 8th middle Job created: "
                f"{', '.join(ms(v) for v in fan['out'])} ms; the last middle Complete -> "
                f"`last` created: {', '.join(ms(v) for v in fan['in'])} ms."
            )
    gone = [
        f"{n} ({f'{s:.1f} s' if s is not None else 'not gone after the wait'})"
        for n, s in namespaces.deleted
    ]
    print(f"\nNamespaces made and deleted: {len(gone)} ({', '.join(gone)})")
    for note in notes:
        print(f"\nNote: {note}")


if __name__ == "__main__":
    main()
