"""The Kubernetes backend, driven by the real Engine, against the real test cluster.

Every test deploys a small real project (notebooks in a git repository, planned as the
CLI plans them) into its own namespace: Jobs and Deployments are created by the backend,
run by the cluster's own controllers, and their runners clone the repository through
``file://`` (the test cluster's pods share this machine's files).

The pods are exactly as rendered (their emptyDirs live under ``/bodywork``, which hides
nothing of this machine's); their ``bodywork-runner`` is the one of the Python env that
runs the cluster (first on a pod's PATH). Projects and the files stages write are in a
folder of their own under ``/var/tmp`` that this machine and the pods both see.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bodywork_helpers import (
    PREDICT,
    config,
    job_named,
    job_names,
    jobs,
    prediction,
    shared_folder,
    write_project,
)
from k8s_helpers import Kube, deployment, wait_for
from kubernetes import client, watch

from bodywork_jupyter.backends.kubernetes.backend import KubeHandle, KubernetesBackend
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.logs import last_failure
from bodywork_jupyter.backends.kubernetes.watching import ObjectStream, to_queue
from bodywork_jupyter.engine.backend import Attempt, Outcome
from bodywork_jupyter.engine.engine import Engine, EngineResult
from bodywork_jupyter.engine.store import Event, RunStore
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Plan, plan_pipeline
from bodywork_jupyter.plan.kubernetes import KubernetesOptions
from bodywork_runner.events import format_event
from bodywork_runner.spec import Source

pytestmark = pytest.mark.k8s

#: Every engine run of this file ends well within this.
RUN_LIMIT = 120.0


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_stream_left_behind() -> Iterator[None]:
    """Every watch and log follower the backend started has ended after the test."""
    yield

    def ours() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith(("watch ", "log "))]

    deadline = time.monotonic() + 5
    while ours() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours(), f"still running: {ours()}"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder this machine and the pods both see (not under /tmp or /work)."""
    yield from shared_folder("bodywork-k8s-")


@pytest.fixture
def cluster(k8s_kubeconfig: str) -> Iterator[Cluster]:
    made = Cluster(kubeconfig=k8s_kubeconfig)
    yield made
    made.close()


@pytest.fixture
def options(kube: Kube) -> KubernetesOptions:
    # the account the stage pods run under (bodywork configure-cluster makes it)
    account = client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="bodywork-stage"), automount_service_account_token=False
    )
    kube.core.create_namespaced_service_account(kube.namespace, account)
    return KubernetesOptions(namespace=kube.namespace)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    runs = RunStore(tmp_path / "state")
    yield runs
    runs.close()


def project(folder: Path, yaml: str, **notebooks: list[str]) -> Plan:
    """A committed project of ``notebooks`` (name -> cells), planned from its commit."""
    sha = write_project(folder, yaml, notebooks)
    pipeline = load_pipeline(folder)
    return plan_pipeline(pipeline, Source(repo=folder.as_uri(), commit=sha, project_dir="."))


@dataclass
class Sleeps:
    """The engine's backoff sleep: recorded, not waited."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class Run:
    store: RunStore
    run_id: str
    plan: Plan
    backend: KubernetesBackend
    engine: Engine[KubeHandle]
    sleeps: Sleeps

    def events(self, type_: str | None = None, stage: str | None = None) -> list[Event]:
        return [
            e
            for e in self.store.events(self.run_id)
            if (type_ is None or e.type == type_) and (stage is None or e.stage == stage)
        ]

    def statuses(self) -> dict[str, str]:
        return {s.stage: s.status for s in self.store.stages(self.run_id)}


def prepare(store: RunStore, backend: KubernetesBackend, plan: Plan, **engine: Any) -> Run:
    created = store.create_run(
        plan.pipeline,
        plan.pipeline,
        "kubernetes",
        plan.source.model_dump(mode="json"),
        plan.model_dump(mode="json"),
        {},
    )
    sleeps = Sleeps()
    driver: Engine[KubeHandle] = Engine(
        backend, store, created.id, plan.pipeline, sleep=sleeps, **engine
    )
    return Run(store, created.id, plan, backend, driver, sleeps)


def execute(
    run: Run, during: Callable[[Run], Awaitable[None]] | None = None
) -> EngineResult[KubeHandle]:
    async def main() -> EngineResult[KubeHandle]:
        task = asyncio.ensure_future(run.engine.run(run.plan))
        try:
            if during is not None:
                await asyncio.wait_for(during(run), RUN_LIMIT)
            return await asyncio.wait_for(task, RUN_LIMIT)
        finally:
            await run.backend.close()

    return asyncio.run(main())


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        await asyncio.sleep(0.1)


class JobWatcher:
    """An independent watcher of the namespace's Jobs: when each was seen created, and
    when its Complete condition was seen."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.created: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JobWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()

    def _run(self) -> None:
        stream = self._watch.stream(
            self.kube.batch.list_namespaced_job, self.kube.namespace, timeout_seconds=int(RUN_LIMIT)
        )
        try:
            for event in stream:
                now = time.monotonic()
                job = event["raw_object"]
                name = job["metadata"]["name"]
                self.created.setdefault(name, now)
                conditions = (job.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Complete" and c["status"] == "True" for c in conditions):
                    self.completed.setdefault(name, now)
        except Exception:
            if not self._watch._stop:  # stop() shuts the socket down under the read
                raise


# -- 1. a DAG in order, with the runner's events from the pod log -------------------------------


def test_prep_then_train_in_order_with_runner_events(
    kube: Kube, cluster: Cluster, options: KubernetesOptions, store: RunStore, shared: Path
) -> None:
    out = shared / "out"
    out.mkdir()
    plan = project(
        shared / "project",
        config("name: dag", prep="", train="depends_on: [prep]"),
        prep=["import pathlib", f"pathlib.Path({str(out)!r}, 'prep').write_text('7')"],
        train=[
            "import pathlib",
            f"n = int(pathlib.Path({str(out)!r}, 'prep').read_text())",
            f"pathlib.Path({str(out)!r}, 'train').write_text(str(n * 2))",
        ],
    )
    run = prepare(store, KubernetesBackend(cluster, options), plan)

    with JobWatcher(kube) as jobs:
        result = execute(run)

    assert result.status == "succeeded", run.events()
    assert (out / "train").read_text() == "14"  # train ran after prep, and saw its file
    assert run.statuses() == {"prep": "succeeded", "train": "succeeded"}
    for stage, cells in (("prep", 2), ("train", 3)):
        finished = run.events("runner.cell.finished", stage)
        assert [(e.data["index"], e.data["total"]) for e in finished] == [
            (i, cells) for i in range(1, cells + 1)
        ]
        assert run.events("runner.stage.running", stage)
    types = [e.type for e in run.events(stage="prep")]
    # the log's last events are in before the stage counts as succeeded
    assert types.index("runner.cell.finished") < types.index("stage.succeeded")
    prep_job = job_named(kube, "-prep-").metadata.name
    train_job = job_named(kube, "-train-").metadata.name
    edge = jobs.created[train_job] - jobs.completed[prep_job]
    print(f"\nedge latency: prep's Job Complete -> train's Job created: {edge * 1000:.0f} ms")
    # finished Jobs stay (with their pods, hence their logs)
    logs = kube.logs(kube.pods(f"job-name={train_job}")[0].metadata.name)
    assert "cell.finished" in logs


# -- 2. retried, then failed, then run_on_failure ------------------------------------------------


def test_a_failing_stage_is_retried_then_run_on_failure_runs(
    kube: Kube, cluster: Cluster, options: KubernetesOptions, store: RunStore, shared: Path
) -> None:
    out = shared / "out"
    out.mkdir()
    plan = project(
        shared / "project",
        config(
            "name: flaky, run_on_failure: notify",
            train="retries: {count: 1, backoff: 7}",
            after="depends_on: [train]",
            notify="",
        ),
        train=["x = 1", "raise ValueError('bad data')"],
        after=["print('never')"],
        notify=[
            "import os, pathlib",
            f"pathlib.Path({str(out)!r}, 'failed').write_text(os.environ['BODYWORK_FAILED_STAGE'])",
        ],
    )
    run = prepare(store, KubernetesBackend(cluster, options), plan)

    result = execute(run)

    assert (result.status, result.failed_stage) == ("failed", "train")
    assert run.sleeps.delays == [7.0]  # one retry, its backoff asked of the injected sleep
    retrying = run.events("stage.retrying", "train")
    assert [(e.attempt, e.data["reason"]) for e in retrying] == [(1, "error")]
    failed = run.events("stage.failed", "train")
    assert [(e.attempt, e.data["reason"]) for e in failed] == [(2, "error")]
    assert failed[0].data["ename"] == "ValueError" and failed[0].data["cell"] == 2
    assert "bad data" in failed[0].data["message"]
    # each attempt is a Job of its own, and both stay, failed
    names = job_names(kube)
    train = [n for n in names if "-train-" in n]
    assert [n[-2:] for n in train] == ["-1", "-2"], names
    assert run.statuses() == {
        "train": "failed",
        "after": "skipped",
        "notify": "succeeded",
    }
    assert (out / "failed").read_text() == "train"  # BODYWORK_FAILED_STAGE reached its env


# -- 3. a timeout: the Job's own deadline ---------------------------------------------------------


def test_a_stage_past_its_timeout_fails_with_reason_timeout(
    kube: Kube, cluster: Cluster, store: RunStore, shared: Path, options: KubernetesOptions
) -> None:
    plan = project(
        shared / "project",
        config("name: slow", slow="timeout: 3"),
        slow=["import time", "time.sleep(60)"],
    )
    # the Job's deadline is the timeout itself (no grace); the engine waits 10 s longer
    strict = options.model_copy(update={"deadline_grace_seconds": 0})
    run = prepare(store, KubernetesBackend(cluster, strict), plan, timeout_grace=10)

    started = time.monotonic()
    result = execute(run)
    took = time.monotonic() - started

    assert result.status == "failed"
    failed = run.events("stage.failed", "slow")
    assert failed[0].data["reason"] == "timeout", failed[0].data
    assert "DeadlineExceeded" in failed[0].data["message"]
    job = job_named(kube, "-slow-")
    assert job.spec.active_deadline_seconds == 3
    reasons = {c.type: c.reason for c in job.status.conditions if c.status == "True"}
    assert reasons.get("Failed") == "DeadlineExceeded"
    assert took < 13, f"took {took:.1f}s: the engine's own timeout fired, not the Job's"


# -- 4. cancel ------------------------------------------------------------------------------------


def test_cancel_deletes_the_running_job_and_its_pod(
    kube: Kube, cluster: Cluster, options: KubernetesOptions, store: RunStore, shared: Path
) -> None:
    plan = project(
        shared / "project",
        config("name: sleepy", nap=""),
        nap=["import time", "time.sleep(60)"],
    )
    run = prepare(store, KubernetesBackend(cluster, options), plan)

    async def cancel_when_running(run: Run) -> None:
        await until(lambda: bool(run.events("runner.cell.finished", "nap")), 60, "cell 1")
        run.engine.cancel()

    result = execute(run, cancel_when_running)

    assert result.status == "cancelled"
    assert run.events("stage.cancelled", "nap")
    assert jobs(kube) == []  # deleted at once
    wait_for(
        "the pod to be gone",
        lambda: not kube.pods("bodywork.dev/stage=nap"),
        timeout=40,
    )


# -- 5. a notebook service --------------------------------------------------------------------


def test_a_notebook_service_becomes_ready_and_takes_traffic(
    kube: Kube, cluster: Cluster, options: KubernetesOptions, store: RunStore, shared: Path
) -> None:
    plan = project(
        shared / "project",
        config("name: calc", serve="service: {port: 8000, replicas: 2}"),
        serve=["FACTOR = 3", PREDICT],
    )
    backend = KubernetesBackend(cluster, options)
    switched: list[str] = []

    async def before_deployed(services: dict[str, KubeHandle]) -> None:
        for handle in services.values():
            switched.append(await backend.switch_traffic(handle))

    run = prepare(store, backend, plan, before_deployed=before_deployed)

    result = execute(run)

    url = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    assert result.status == "deployed", run.events()
    assert switched == [url]
    assert run.events("run.deployed")[0].data["urls"] == {"serve": url}
    assert run.events("stage.ready", "serve")[0].data["url"] == url
    service = kube.core.read_namespaced_service("serve", kube.namespace)
    assert service.spec.selector["bodywork.dev/run"] == run.run_id
    assert prediction(kube, 2) == {"y": 6}


def test_a_crashing_service_fails_fast_and_its_version_is_removed(
    kube: Kube, cluster: Cluster, options: KubernetesOptions, store: RunStore, shared: Path
) -> None:
    plan = project(
        shared / "project",
        config("name: crash", serve="service: {port: 8000}"),
        serve=["raise RuntimeError('no model file')", "def predict(request):\n    return {}"],
    )
    run = prepare(store, KubernetesBackend(cluster, options), plan)

    started = time.monotonic()
    result = execute(run)
    took = time.monotonic() - started

    assert result.status == "failed"
    (failed,) = run.events("stage.failed", "serve")
    assert failed.data["k8s_reason"] == "CrashLoopBackOff", failed.data
    assert "no model file" in failed.data["message"]  # what the runner said, from the log
    print(f"\nCrashLoopBackOff: failed after {took:.1f}s: {failed.data['message']}")
    assert took < 30
    # the version that never became ready is gone; no Service was ever pointed at it
    assert kube.apps.list_namespaced_deployment(kube.namespace).items == []
    assert kube.core.list_namespaced_service(kube.namespace).items == []


def test_what_a_crashed_container_said_is_read_from_its_previous_log(
    kube: Kube, cluster: Cluster
) -> None:
    # a loaded node: the container crashed before its log was followed, and restarted;
    # its second run (an emptyDir outlives a container) says nothing and keeps running
    said = format_event("stage.failed", stage="serve", message="cell 1 raised OSError: no model")
    script = (
        "import os, time\n"
        "if os.path.exists('/scratch/ran'):\n    time.sleep(600)\n"
        f"open('/scratch/ran', 'w').close(); print({said!r}, flush=True); raise SystemExit(1)"
    )
    container = client.V1Container(
        name="stage",
        image="bodywork-testcluster/python",
        command=[sys.executable, "-c", script],
        volume_mounts=[client.V1VolumeMount(name="scratch", mount_path="/scratch")],
    )
    made = deployment("crash", container)
    made.spec.template.spec.volumes = [
        client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource())
    ]
    kube.apps.create_namespaced_deployment(kube.namespace, made)

    def restarted() -> str | None:
        for pod in kube.pods("app=crash"):
            for status in pod.status.container_statuses or []:
                if status.restart_count >= 1 and status.state.running:
                    return str(pod.metadata.name)
        return None

    pod = wait_for("the crashing container to restart", restarted, timeout=60)
    failed = last_failure(cluster, kube.namespace, pod, "stage")
    assert failed is not None
    assert failed["message"] == "cell 1 raised OSError: no model"
    # nothing said, or no such pod: nothing to tell, and no error
    assert last_failure(cluster, kube.namespace, "no-such-pod", "stage") is None


# -- 6. pods that cannot run fail fast, with their reason ----------------------------------------


@pytest.mark.parametrize(
    ("stage", "k8s_reason", "reason"),
    [
        ("greedy: {path: job.ipynb, resources: {cpu_request: 500}}", "Unschedulable", "error"),
        (
            "secretive: {path: job.ipynb, secrets: {DB_PASSWORD: {secret: nowhere, key: pw}}}",
            "CreateContainerConfigError",
            "bad_input",
        ),
    ],
    ids=["unschedulable", "missing-secret"],
)
def test_a_pod_that_cannot_run_fails_within_seconds(
    kube: Kube,
    cluster: Cluster,
    options: KubernetesOptions,
    store: RunStore,
    shared: Path,
    stage: str,
    k8s_reason: str,
    reason: str,
) -> None:
    plan = project(
        shared / "project",
        f"""
        version: "2.0"
        pipeline: {{name: stuck}}
        stages:
          {stage}
        """,
        job=["print('never')"],
    )
    run = prepare(store, KubernetesBackend(cluster, options), plan)

    started = time.monotonic()
    result = execute(run)
    took = time.monotonic() - started

    assert result.status == "failed"
    (failed,) = run.events("stage.failed")
    assert failed.data["reason"] == reason
    assert failed.data["k8s_reason"] == k8s_reason
    assert k8s_reason in failed.data["message"], failed.data["message"]
    if k8s_reason == "Unschedulable":
        assert "Insufficient cpu" in failed.data["message"]  # the scheduler's own words
    else:
        assert "nowhere" in failed.data["message"]  # the Secret that is missing
    print(f"\n{k8s_reason}: failed after {took:.1f}s: {failed.data['message']}")
    assert took < 20
    # the stuck Job is not left waiting
    wait_for("the Job to be gone", lambda: not jobs(kube))


# -- 7. attach -----------------------------------------------------------------------------------


def test_a_second_backend_attaches_to_a_running_job(
    kube: Kube,
    cluster: Cluster,
    options: KubernetesOptions,
    shared: Path,
    k8s_kubeconfig: str,
) -> None:
    plan = project(
        shared / "project",
        config("name: attach", work=""),
        work=["import time", "time.sleep(3)", "raise RuntimeError('late failure')"],
    )
    first = KubernetesBackend(cluster, options)
    other_cluster = Cluster(kubeconfig=k8s_kubeconfig)
    second = KubernetesBackend(other_cluster, options)

    async def main() -> tuple[Outcome, Outcome, Outcome, float, dict[str, Any]]:
        attempt = Attempt("20260101-120000-attach", "attach", plan, plan.stages["work"], 1)
        events: list[str] = []
        handle = await first.start(attempt, lambda type_, data: events.append(type_))
        ref = json.loads(json.dumps(first.ref(handle)))  # stored as JSON, read back
        attached = await second.attach(ref)
        assert attached is not None
        outcomes = await asyncio.wait_for(
            asyncio.gather(first.watch(handle), second.watch(attached)), 60
        )
        again = await second.attach(ref)  # the Job has finished: its outcome at once
        assert again is not None
        began = time.monotonic()
        late = await asyncio.wait_for(second.watch(again), 10)
        took = time.monotonic() - began
        assert await second.attach({**ref, "uid": "not-the-uid"}) is None
        assert await second.attach({**ref, "name": "no-such-job"}) is None
        await first.close()
        await second.close()
        return outcomes[0], outcomes[1], late, took, ref

    try:
        mine, theirs, late, took, ref = asyncio.run(main())
    finally:
        other_cluster.close()

    assert ref["backend"] == "kubernetes" and ref["kind"] == "Job"
    assert set(ref) == {"backend", "kind", "name", "namespace", "uid", "run_id", "stage", "attempt"}
    assert not mine.ok and mine.reason == "error"
    assert "late failure" in mine.message
    assert mine == theirs == late
    assert took < 3, f"watching a finished Job took {took:.1f}s"


# -- 8. the watches: a resourceVersion that is gone means a new list ------------------------------


class _Gone:
    """A watch response whose only event is an ERROR 410 (what the API server sends when
    the resourceVersion asked for is too old)."""

    status = 200

    def stream(self, amt: object = None, decode_content: object = None) -> Iterator[bytes]:
        error = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
        yield json.dumps({"type": "ERROR", "object": error}).encode() + b"\n"

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def test_a_stream_lists_again_when_its_resource_version_is_gone(
    kube: Kube, cluster: Cluster
) -> None:
    watches = 0

    def list_config_maps(namespace: str, **query: Any) -> Any:
        nonlocal watches
        if query.get("watch"):
            watches += 1
            if watches == 1:  # 410 as the request's answer
                raise client.ApiException(status=410, reason="Gone")
            if watches == 2:  # 410 as an ERROR event in the stream
                return _Gone()
        return cluster.core.list_namespaced_config_map(namespace, **query)

    async def main() -> tuple[list[str], int]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        deliver = to_queue(asyncio.get_running_loop(), queue, "cm")
        stream = ObjectStream(cluster, list_config_maps, kube.namespace, deliver, what="cms")
        stream.start()
        seen: list[str] = []
        try:
            while len([t for t in seen if t == "LISTED"]) < 3:
                seen.append((await asyncio.wait_for(queue.get(), 10))[1].type)
            made = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after-gone"))
            await asyncio.to_thread(kube.core.create_namespaced_config_map, kube.namespace, made)
            while True:
                _, change = await asyncio.wait_for(queue.get(), 10)
                if change.type == "ADDED" and change.obj["metadata"]["name"] == "after-gone":
                    seen.append("ADDED")
                    return seen, stream.lists
        finally:
            stream.stop()

    seen, lists = asyncio.run(main())
    assert seen[:3] == ["LISTED", "LISTED", "LISTED"] and seen[-1] == "ADDED", seen
    assert lists == 3 and watches >= 3
