"""``bodywork schedule`` (and Bodywork 3's ``cronjob`` commands) on the test cluster: a
schedule is our CronJob, listed, paused with ``spec.suspend`` (kept by a redeploy),
changed and deleted. Nothing here waits for a fire: test_schedule.py does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bodywork_helpers import Bodywork, bodywork_cli, config, jobs, shared_folder, write_project
from k8s_helpers import Kube

pytestmark = pytest.mark.k8s


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-schedule-commands-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    run = bodywork_cli(k8s_kubeconfig, kube.namespace, tmp_path / "state")
    configured = run("configure-cluster")
    assert configured.returncode == 0, configured.stdout + configured.stderr
    return run


def test_cronjob_commands_on_a_cluster(bw: Bodywork, kube: Kube, shared: Path) -> None:
    url = (shared / "nightly").as_uri()
    write_project(shared / "nightly", config("name: nightly", tick=""), {"tick": ["print(1)"]})

    created = bw("create", "cronjob", url, "--name", "nightly", "--schedule", "0 3 * * *")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "created schedule 'nightly': '0 3 * * *' (UTC), next run" in created.stdout
    cron = kube.batch.read_namespaced_cron_job("nightly-schedule", kube.namespace)
    assert cron.spec.schedule == "0 3 * * *" and not cron.spec.suspend
    assert jobs(kube) == []  # nothing runs now, as Bodywork's create cronjob
    again = bw("create", "cronjob", url, "--schedule", "0 4 * * *")
    assert again.returncode == 2 and "has a schedule already" in again.stderr

    table = bw("get", "cronjobs").stdout.splitlines()
    assert table[1].split()[:7] == ["nightly", "0", "3", "*", "*", "*", "active"], table
    shown = bw("schedule", "show", "nightly").stdout
    assert f"CronJob nightly-schedule in {kube.namespace}" in shown and url in shown, shown

    assert bw("schedule", "pause", "nightly").returncode == 0
    assert kube.batch.read_namespaced_cron_job("nightly-schedule", kube.namespace).spec.suspend
    # changing what it runs and when keeps it paused (suspend is not ours to apply)
    updated = bw("update", "cronjob", url, "--schedule", "30 1 * * *")
    assert updated.returncode == 0, updated.stderr
    assert "'30 1 * * *' (UTC), paused" in updated.stdout
    cron = kube.batch.read_namespaced_cron_job("nightly-schedule", kube.namespace)
    assert cron.spec.schedule == "30 1 * * *" and cron.spec.suspend
    assert " paused " in bw("get", "cronjobs").stdout
    resumed = bw("schedule", "resume", "nightly")
    assert resumed.returncode == 0 and "next run" in resumed.stdout and "01:30:00" in resumed.stdout
    assert not kube.batch.read_namespaced_cron_job("nightly-schedule", kube.namespace).spec.suspend

    deleted = bw("delete", "cronjob", "nightly")
    assert deleted.returncode == 0, deleted.stderr
    assert kube.batch.list_namespaced_cron_job(kube.namespace).items == []
    maps = kube.core.list_namespaced_config_map(kube.namespace).items
    assert "nightly-plan" not in {m.metadata.name for m in maps}
    assert bw("get", "cronjobs").stdout.strip() == "no schedules"
    missing = bw("schedule", "pause", "nightly")
    assert missing.returncode == 2 and "no schedule 'nightly'" in missing.stderr
    refused = bw("update", "cronjob", url, "--schedule", "0 3 * * *")
    assert refused.returncode == 2 and "no schedule 'nightly'" in refused.stderr
