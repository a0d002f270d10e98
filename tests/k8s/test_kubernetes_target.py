"""``--target kubernetes`` end to end: the ``bodywork`` CLI as a user runs it, on the test
cluster.

Every test writes a small real project (notebooks, no requirements: pods cannot reach
PyPI), commits it and deploys it by its ``file://`` URL (the test cluster's pods share this
machine's files) into a namespace of its own, set up with ``bodywork configure-cluster``.
The run is driven by the controller Job in the cluster, under the controller's
ServiceAccount and its Role only (its pod's token is the only credential it has); the
test reads the run back through the CLI, or through the run records for waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bodywork_helpers import (
    PREDICT,
    config,
    job_names,
    jobs,
    ours_left,
    prediction,
    proxy_post,
    shared_folder,
    write_project,
)
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.engine.store import Event, Run

pytestmark = pytest.mark.k8s

OURS = "app.kubernetes.io/managed-by=bodywork-jupyter"
CONTROLLER = "app.kubernetes.io/component=controller"

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder this machine and the pods both see (not under /tmp)."""
    yield from shared_folder("bodywork-k8s-target-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """``bodywork ARGS --target kubernetes --namespace <the test's>``, as a user runs it."""
    env = {
        **os.environ,
        "KUBECONFIG": k8s_kubeconfig,
        "NO_COLOR": "1",
        "BODYWORK_STATE_DIR": str(tmp_path / "state"),  # the local target's: ignored here
    }
    env.pop("BODYWORK_DEBUG", None)

    def run(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", "kubernetes",
             "--namespace", kube.namespace],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip

    return run


@pytest.fixture
def configured(bw: Bodywork, kube: Kube) -> Bodywork:
    """The test's namespace (made by the kube fixture) set up by configure-cluster."""
    result = bw("configure-cluster")
    assert result.returncode == 0, result.stderr
    for made in ("Namespace", "ServiceAccount/bodywork-controller", "Role/bodywork-controller",
                 "RoleBinding/bodywork-controller", "ServiceAccount/bodywork-stage"):  # fmt: skip
        assert made in result.stdout, result.stdout
    assert f"namespace {kube.namespace} is set up" in result.stdout
    return bw


@pytest.fixture
def records(kube: Kube, k8s_kubeconfig: str) -> Iterator[ClusterRecords]:
    cluster = Cluster(kubeconfig=k8s_kubeconfig)
    yield ClusterRecords(cluster, kube.namespace)
    cluster.close()


def project(folder: Path, yaml: str, **notebooks: list[str]) -> str:
    """A committed project of ``notebooks`` (name -> cells): its file:// URL."""
    write_project(folder, yaml, notebooks)
    return folder.as_uri()


def git_head(folder: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    for line in result.stdout.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].rstrip(")")
    raise AssertionError(f"no run id in:\n{result.stdout}\n{result.stderr}")


def deploy(bw: Bodywork, url: str, *args: str) -> str:
    """``bodywork deploy URL ARGS``, which must succeed: the run's id."""
    result = bw("deploy", url, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return run_id_of(result)


def row(result: subprocess.CompletedProcess[str], start: str) -> str:
    """The one line of a listing that starts with ``start``."""
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(start)]
    return line


def events(
    records: ClusterRecords, run_id: str, type_: str, stage: str | None = None
) -> list[Event]:
    """The run's recorded events of ``type_`` (of ``stage``, if given)."""
    return [
        e for e in records.events(run_id) if e.type == type_ and (stage is None or e.stage == stage)
    ]


def settled(records: ClusterRecords, run_id: str, timeout: float = 120) -> Run:
    def done() -> Run | None:
        run = records.get_run(run_id, with_plan=False)
        return run if run is not None and run.status not in ("queued", "running") else None

    return wait_for(f"run {run_id} to settle", done, timeout=timeout)


def status_of(records: ClusterRecords, run_id: str) -> str:
    run = records.get_run(run_id, with_plan=False)
    assert run is not None, run_id
    return run.status


# -- 1. configure, deploy, serve, read back, delete -------------------------------------------


def test_deploy_a_batch_stage_then_a_service_read_it_back_and_delete_it(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    url = project(
        shared / "calc",
        config("name: calc", prep="", serve="depends_on: [prep], service: {port: 8000}"),
        prep=["print('prep says hello')"],
        serve=["FACTOR = 3", PREDICT],
    )
    started = time.monotonic()
    result = configured("deploy", url)
    took = time.monotonic() - started

    assert result.returncode == 0, result.stdout + result.stderr
    run_id = run_id_of(result)
    service_url = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    assert f"serve is serving at {service_url}" in result.stdout
    print(f"\ndeploy prep -> serve returned after {took:.1f}s")
    assert prediction(kube, 2) == {"y": 6}

    runs = configured("get", "runs")
    assert runs.returncode == 0, runs.stderr
    assert row(runs, run_id).split()[1:3] == ["calc", "deployed"]
    deployments = configured("get", "deployments")
    assert deployments.returncode == 0, deployments.stderr
    sha = git_head(shared / "calc")
    assert row(deployments, "calc ").split() == [
        "calc", "serving", run_id, f"{run_id}@{sha[:8]}", f"serve={service_url}"
    ]  # fmt: skip
    logs = configured("logs", run_id, "prep")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip() == "prep says hello"
    assert "::bodywork-event::" not in logs.stdout
    by_name = configured("logs", "calc", "prep")  # the deployment's newest run
    assert by_name.stdout == logs.stdout

    # the controller ran under its own ServiceAccount (its Role is all it may do), and
    # no stage pod has an API token
    controller_pods = kube.pods(CONTROLLER)
    assert [p.spec.service_account_name for p in controller_pods] == ["bodywork-controller"]
    stage_pods = kube.pods("bodywork.dev/stage")
    assert {p.metadata.labels["bodywork.dev/stage"] for p in stage_pods} == {"prep", "serve"}
    for pod in stage_pods:
        assert pod.spec.service_account_name == "bodywork-stage"
        assert pod.spec.automount_service_account_token is False
        volumes = [v.name for v in pod.spec.volumes]
        assert not [v for v in volumes if v.startswith("kube-api-access")], volumes
        mounts = [m.mount_path for c in pod.spec.containers for m in c.volume_mounts or []]
        assert not [m for m in mounts if "serviceaccount" in m], mounts

    deleted = configured("delete", "deployment", "calc")
    assert deleted.returncode == 0, deleted.stderr
    rbac = [  # and the namespace's settings: configure-cluster's, as the RBAC objects are
        "ConfigMap/bodywork-settings",
        "Role/bodywork-controller",
        "RoleBinding/bodywork-controller",
        "ServiceAccount/bodywork-controller",
        "ServiceAccount/bodywork-stage",
    ]
    wait_for("only the RBAC objects to be left", lambda: ours_left(kube) == rbac, timeout=30)
    assert kube.core.read_namespace(kube.namespace).metadata.labels[OURS.split("=")[0]]
    assert "no deployments" in configured("get", "deployments").stdout


# -- 2. a namespace that was not set up --------------------------------------------------------


def test_a_namespace_that_was_not_configured_is_refused_and_nothing_is_made(
    bw: Bodywork, kube: Kube, shared: Path
) -> None:
    url = project(
        shared / "plain",
        config("name: plain", only=""),
        only=["print(1)"],
    )
    result = bw("deploy", url)

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"bodywork configure-cluster --namespace {kube.namespace}" in result.stderr
    assert "Traceback" not in result.stderr
    assert ours_left(kube) == []
    assert jobs(kube) == []


# -- 3. a failing stage, then run_on_failure -------------------------------------------------


def test_a_failing_stage_fails_the_run_and_run_on_failure_runs(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    out = shared / "out"
    out.mkdir()
    url = project(
        shared / "flaky",
        config(
            "name: flaky, run_on_failure: notify", train="", after="depends_on: [train]", notify=""
        ),
        train=["x = 1", "raise ValueError('bad data')"],
        after=["print('never')"],
        notify=[
            "import os, pathlib",
            f"pathlib.Path({str(out)!r}, 'failed').write_text(os.environ['BODYWORK_FAILED_STAGE'])",
            "print('notified')",
        ],
    )
    result = configured("deploy", url)

    assert result.returncode == 1, result.stdout + result.stderr
    run_id = run_id_of(result)
    assert "train: " in result.stderr and "bad data" in result.stderr
    assert f"bodywork logs {run_id} train --target kubernetes" in result.stderr
    assert (out / "failed").read_text() == "train"  # BODYWORK_FAILED_STAGE reached notify
    failed = row(configured("get", "runs"), run_id)
    assert failed.split()[2] == "failed" and "stage 'train' failed" in failed
    assert configured("logs", run_id, "notify").stdout.strip() == "notified"
    names = job_names(kube)
    assert not [n for n in names if "-after-" in n], names  # skipped: never started


# -- 4. cancel -------------------------------------------------------------------------------


def test_cancel_stops_a_sleeping_run(
    configured: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    url = project(
        shared / "sleepy",
        config("name: sleepy", nap=""),
        nap=["import time", "time.sleep(120)"],
    )
    run_id = deploy(configured, url, "--detach")
    wait_for(
        "the nap to be sleeping",
        lambda: events(records, run_id, "runner.cell.finished"),
        timeout=60,
    )
    started = time.monotonic()
    cancelled = configured("cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelling run {run_id}" in cancelled.stdout

    run = settled(records, run_id, timeout=60)
    took = time.monotonic() - started
    assert run.status == "cancelled", run
    print(f"\ncancel: the run was cancelled {took:.1f}s after 'bodywork cancel'")
    assert took < 20
    statuses = {s.stage: s.status for s in records.stages(run_id)}
    assert statuses == {"nap": "cancelled"}
    assert jobs(kube, "bodywork.dev/stage") == []  # the stage's Job is deleted
    again = configured("cancel", run_id)
    assert again.returncode == 2 and "only queued or running runs" in again.stderr


# -- 5. a redeploy that never becomes ready: the old version keeps serving ---------------------


def test_a_broken_redeploy_leaves_the_old_version_serving(
    configured: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    folder = shared / "calc"
    calc = config("name: calc", serve="service: {port: 8000}")
    url = project(folder, calc, serve=["FACTOR = 3", PREDICT])
    v1 = git_head(folder)
    first_id = deploy(configured, url)
    assert prediction(kube, 2) == {"y": 6}

    # v2 raises at import: its pods crash, it never becomes ready
    project(folder, calc, serve=["raise RuntimeError('no model file')", "FACTOR = 4", PREDICT])
    v2 = git_head(folder)
    answers: list[Any] = []
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:  # a bounded load through the Service while v2 tries
        while not stop.is_set():
            try:
                answers.append(proxy_post(kube, "serve", 8000, "/predict", {"x": 2}))
            except Exception as exc:
                failures.append(repr(exc))
            time.sleep(0.1)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        second = configured("deploy", url)
    finally:
        stop.set()
        loader.join(10)

    assert second.returncode == 1, second.stdout + second.stderr
    second_id = run_id_of(second)
    assert "CrashLoopBackOff" in second.stderr or "no model file" in second.stderr, second.stderr
    assert failures == [] and answers and all(a == {"y": 6} for a in answers), failures[:3]
    print(f"\nbroken redeploy: {len(answers)} requests during it, none failed")
    assert prediction(kube, 5) == {"y": 15}  # still v1
    service = kube.core.read_namespaced_service("serve", kube.namespace)
    assert service.spec.selector["bodywork.dev/run"] == first_id
    assert status_of(records, second_id) == "failed"
    assert status_of(records, first_id) == "deployed"
    versions = kube.apps.list_namespaced_deployment(kube.namespace).items
    assert [d.metadata.labels["bodywork.dev/run"] for d in versions] == [first_id]
    # the deploy output says what keeps serving, and every listing tells the newest run
    # (the failed one) apart from the serving version (v1's run and commit)
    service_url = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    kept = f"the previous version keeps serving: run {first_id} (commit {v1[:8]}) at {service_url}"
    assert second.stderr.splitlines()[-1] == kept, second.stderr
    assert row(configured("get", "deployments"), "calc ").split() == [
        "calc", "serving", second_id, f"{first_id}@{v1[:8]}", f"serve={service_url}"
    ]  # fmt: skip
    detail = configured("get", "deployment", "calc").stdout
    assert (
        f"serving      run {first_id} (commit {v1[:8]}) - the newest, run {second_id} "
        f"(commit {v2[:8]}), is failed: " in detail
    ), detail
    listed = row(configured("service", "display"), "calc/serve").split()
    assert listed == ["calc/serve", service_url, f"{first_id}@{v1[:8]}"]

    # a good v3 replaces v1: v1's run is recorded stopped, v3 is newest and serving
    project(folder, calc, serve=["FACTOR = 5", PREDICT])
    v3 = git_head(folder)
    third_id = deploy(configured, url)
    assert prediction(kube, 2) == {"y": 10}
    statuses = [status_of(records, r) for r in (first_id, second_id, third_id)]
    assert statuses == ["stopped", "failed", "deployed"]
    assert row(configured("get", "deployments"), "calc ").split()[2:4] == [
        third_id, f"{third_id}@{v3[:8]}"
    ]  # fmt: skip


# -- 6. the controller pod killed mid-run --------------------------------------------------------


def test_a_controller_pod_killed_mid_run_is_replaced_and_the_run_goes_on(
    configured: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    url = project(
        shared / "long",
        config("name: long", prep="", nap="depends_on: [prep]", done="depends_on: [nap]"),
        prep=["print('prep')"],
        nap=["import time", "time.sleep(8)", "print('woke up')"],
        done=["print('done')"],
    )
    run_id = deploy(configured, url, "--detach")
    wait_for(
        "the nap to be sleeping",
        lambda: events(records, run_id, "runner.cell.finished", "nap"),
        timeout=60,
    )
    (first,) = kube.pods(CONTROLLER)
    kube.core.delete_namespaced_pod(first.metadata.name, kube.namespace)
    killed = time.monotonic()

    run = settled(records, run_id, timeout=120)
    print(f"\ncontroller killed: the run settled {time.monotonic() - killed:.1f}s later")
    assert run.status == "succeeded", [(e.type, e.stage, e.data) for e in records.events(run_id)]
    pods = kube.pods(CONTROLLER)
    assert first.metadata.name not in [p.metadata.name for p in pods] and pods
    resumed = events(records, run_id, "run.resumed")
    assert len(resumed) == 1, resumed
    assert resumed[0].data["succeeded"] == ["prep"]
    assert resumed[0].data["attaching"] == ["nap"]
    per_stage: dict[str, int] = {}
    for job in jobs(kube, "bodywork.dev/stage"):
        stage = job.metadata.labels["bodywork.dev/stage"]
        per_stage[stage] = per_stage.get(stage, 0) + 1
    assert per_stage == {"prep": 1, "nap": 1, "done": 1}  # nothing ran twice
    assert configured("logs", run_id, "nap").stdout.strip() == "woke up"
    starting = [e.stage for e in events(records, run_id, "stage.starting")]
    assert sorted(starting) == ["done", "nap", "prep"]


# -- 7. a run whose controller is gone is lost ----------------------------------------------------


def test_a_run_whose_controller_job_is_gone_is_lost(
    configured: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    url = project(
        shared / "orphan",
        config("name: orphan", nap=""),
        nap=["import time", "time.sleep(60)"],
    )
    run_id = deploy(configured, url, "--detach")
    wait_for(
        "the run to be running",
        lambda: getattr(records.get_run(run_id, with_plan=False), "status", "") == "running",
        timeout=60,
    )
    (job,) = jobs(kube, CONTROLLER)
    kube.batch.delete_namespaced_job(
        job.metadata.name, kube.namespace, propagation_policy="Background"
    )
    wait_for(
        "the controller Job to be gone",
        lambda: not jobs(kube, CONTROLLER),
        timeout=30,
    )

    runs = configured("get", "runs")  # every command settles what nobody drives first

    lost = row(runs, run_id)
    assert lost.split()[2] == "lost", runs.stdout
    assert "controller Job is gone" in lost
    assert status_of(records, run_id) == "lost"


# -- 8. a schedule: a batch/v1 CronJob whose Jobs record and drive runs of their own ----------


def test_a_schedule_makes_a_cronjob_whose_job_records_and_drives_a_run(
    configured: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    out = shared / "out"
    out.mkdir()
    url = project(
        shared / "nightly",
        config('name: nightly, schedule: "0 0 1 1 *"', tick=""),
        tick=["import os, pathlib, uuid", f"pathlib.Path({str(out)!r}, uuid.uuid4().hex).touch()"],
    )
    first = deploy(configured, url)  # runs now, and on the schedule
    cron = kube.batch.read_namespaced_cron_job("nightly-schedule", kube.namespace)
    assert cron.spec.schedule == "0 0 1 1 *" and cron.spec.time_zone == "Etc/UTC"
    kube.core.read_namespaced_config_map("nightly-plan", kube.namespace)

    # what the CronJob does when the time comes: a Job from its template
    template = cron.spec.job_template
    kube.batch.create_namespaced_job(
        kube.namespace,
        client.V1Job(
            metadata=client.V1ObjectMeta(
                name="nightly-schedule-manual",
                labels=template.metadata.labels,
                annotations=template.metadata.annotations,
            ),
            spec=template.spec,
        ),
    )

    def scheduled() -> Run | None:
        runs = [r for r in records.runs("nightly") if r.id != first]
        return runs[0] if runs and runs[0].status == "succeeded" else None

    run = wait_for("the scheduled run to succeed", scheduled, timeout=90)
    assert run.options["controller_job"] == "nightly-schedule-manual"
    assert run.options["scheduled"] is True
    assert len(list(out.iterdir())) == 2  # the deploy's run and the scheduled one
    deleted = configured("delete", "deployment", "nightly")
    assert deleted.returncode == 0, deleted.stderr
    assert kube.batch.list_namespaced_cron_job(kube.namespace).items == []
    wait_for(
        "only the RBAC objects to be left",
        lambda: all(o.split("/")[0] in {"Role", "RoleBinding", "ServiceAccount"}
                    or o == "ConfigMap/bodywork-settings" for o in ours_left(kube)),
        timeout=30,
    )  # fmt: skip
