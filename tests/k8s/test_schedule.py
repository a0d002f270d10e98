"""A schedule on the test cluster: the cluster's own CronJob controller fires it.

``bodywork deploy`` of a pipeline with ``schedule: "* * * * *"`` runs it once at once (as
docs/users/running.md says) and makes a ``batch/v1`` CronJob. Nothing in the test creates
a Job: the kube-controller-manager's CronJob controller makes one at the next minute, and
that Job's controller records a run of the plan and drives it to ``succeeded``, which
``bodywork get runs`` shows (and the namespace's run records, which it reads).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import (
    Bodywork,
    bodywork_cli,
    config,
    jobs,
    run_id_of,
    shared_folder,
    write_project,
)
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.records_read import ClusterRecords
from bodywork_jupyter.engine.store import Run

pytestmark = pytest.mark.k8s

#: '* * * * *' fires at the next minute: within 60 s of the CronJob, plus the controller's
#: own sync period (10 s); 150 s leaves room for a loaded machine.
FIRE_TIMEOUT = 150


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-schedule-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """The CLI on the test's namespace, set up by ``bodywork configure-cluster``."""
    run = bodywork_cli(k8s_kubeconfig, kube.namespace, tmp_path / "state")
    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return run


@pytest.fixture
def records(kube: Kube, k8s_kubeconfig: str) -> Iterator[ClusterRecords]:
    """The namespace's run records, which the target's reads (and ``get runs``) come from."""
    cluster = Cluster(kubeconfig=k8s_kubeconfig)
    yield ClusterRecords(cluster, kube.namespace)
    cluster.close()


def fired_by(cronjob: str, job: client.V1Job) -> bool:
    """Was ``job`` made by the CronJob controller for ``cronjob`` (not by us)?"""
    owners = job.metadata.owner_references or []
    return any(o.kind == "CronJob" and o.name == cronjob and o.controller for o in owners)


def test_the_cronjob_controller_fires_the_schedule_and_its_job_runs_the_pipeline(
    bw: Bodywork, kube: Kube, shared: Path, records: ClusterRecords
) -> None:
    out = shared / "out"
    out.mkdir()
    url = (shared / "minutely").as_uri()
    write_project(
        shared / "minutely",
        config('name: minutely, schedule: "* * * * *"', tick=""),
        {"tick": ["import pathlib, uuid", f"pathlib.Path({str(out)!r}, uuid.uuid4().hex).touch()",
                  "print('tick')"]},
    )  # fmt: skip

    deployed = bw("deploy", url)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    at_deploy = run_id_of(deployed)
    cron = kube.batch.read_namespaced_cron_job("minutely-schedule", kube.namespace)
    assert cron.spec.schedule == "* * * * *" and cron.spec.concurrency_policy == "Forbid"
    made = time.monotonic()

    # the run at deploy is the deploy's own (its controller Job is no CronJob's)
    first = records.get_run(at_deploy, with_plan=False)
    assert first is not None and first.status == "succeeded"
    assert not first.options.get("scheduled")

    job = wait_for(
        "the CronJob controller to make a Job",
        lambda: next((j for j in jobs(kube) if fired_by("minutely-schedule", j)), None),
        timeout=FIRE_TIMEOUT,
        interval=1,
    )
    fired_after = time.monotonic() - made
    print(f"\nschedule: the CronJob controller made Job {job.metadata.name} {fired_after:.0f}s "
          "after the deploy")  # fmt: skip

    def scheduled_run() -> Run | None:
        runs = [
            r
            for r in records.runs("minutely")
            if r.options.get("controller_job") == job.metadata.name
        ]
        return runs[0] if runs and runs[0].status == "succeeded" else None

    run = wait_for("the scheduled run to succeed", scheduled_run, timeout=90, interval=1)
    assert run.options["scheduled"] is True and run.id != at_deploy
    assert {s.stage: s.status for s in records.stages(run.id)} == {"tick": "succeeded"}
    assert len(list(out.iterdir())) >= 2  # the deploy's run, and the scheduled one (or more)

    listed = bw("get", "runs", "minutely")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in listed.stdout.splitlines()[1:]}
    assert rows[run.id] == ["minutely", "succeeded"], listed.stdout
    assert rows[at_deploy] == ["minutely", "succeeded"], listed.stdout
    assert bw("logs", run.id, "tick").stdout.strip() == "tick"
    cron = kube.batch.read_namespaced_cron_job("minutely-schedule", kube.namespace)
    assert cron.status.last_schedule_time is not None

    deleted = bw("delete", "deployment", "minutely")  # the schedule goes with it
    assert deleted.returncode == 0, deleted.stderr
    assert kube.batch.list_namespaced_cron_job(kube.namespace).items == []
