"""Executed notebooks and Ingress URLs of ``--target kubernetes`` runs, on the test cluster.

A stage pod's executed notebook goes with the pod (an emptyDir), so its runner sends it in
its log and the controller keeps it as a record ConfigMap: here it is read back through
the read service and the target, as every surface reads it, its event lines are in no
``bodywork logs`` output, and deleting the deployment removes it. A service with an
Ingress shows where the Ingress answers beside its in-cluster URL (the test cluster has no
ingress controller: the test plays one by giving the Ingress an address, then a host).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest
from bodywork_helpers import PREDICT, config, prediction, shared_folder, write_project
from k8s_helpers import Kube, wait_for
from kubernetes import client

from bodywork_jupyter.backends.kubernetes import records as rec
from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.target import KubernetesTarget
from bodywork_jupyter.errors import NotFoundError
from bodywork_jupyter.reader import RunReader
from bodywork_jupyter.targets.base import TargetOptions

pytestmark = pytest.mark.k8s

Bodywork = Callable[..., subprocess.CompletedProcess[str]]
NOTEBOOKS = f"{rec.LABEL_RECORD}={rec.NOTEBOOK}"


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-notebooks-")


@pytest.fixture
def configured(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """``bodywork ARGS --target kubernetes --namespace <the test's>``, as a user runs it,
    in a namespace set up by ``configure-cluster``."""
    env = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
           "BODYWORK_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    env.pop("BODYWORK_DEBUG", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", "kubernetes",
             "--namespace", kube.namespace],
            capture_output=True, text=True, env=env, timeout=150,
        )  # fmt: skip

    result = run("configure-cluster")
    assert result.returncode == 0, result.stderr
    return run


@pytest.fixture
def runs(k8s_kubeconfig: str, kube: Kube) -> Iterator[RunReader]:
    """The read service on the Kubernetes target, in the test's namespace."""
    target = KubernetesTarget(TargetOptions(name="kubernetes", namespace=kube.namespace))
    # the test cluster's kubeconfig (the client reads KUBECONFIG once, when imported)
    target._cluster = Cluster(kubeconfig=k8s_kubeconfig)
    yield RunReader(target)
    target.close()


def deploy(bw: Bodywork, folder: Path, yaml: str, **notebooks: list[str]) -> tuple[str, str]:
    """Commit the project, ``bodywork deploy`` its file:// URL (which must succeed): the
    run's id and what deploy printed."""
    write_project(folder, yaml, notebooks)
    result = bw("deploy", folder.as_uri())
    assert result.returncode == 0, result.stdout + result.stderr
    for line in result.stdout.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].rstrip(")"), result.stdout
    raise AssertionError(f"no run id in:\n{result.stdout}")


def outputs(content: bytes) -> str:
    """Every text output of an executed notebook, one after the other."""
    executed = nbformat.reads(content.decode("utf-8"), as_version=4)
    return "".join(
        str(o.get("text", "")) for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )


def notebook_records(kube: Kube) -> list[str]:
    listed = kube.core.list_namespaced_config_map(kube.namespace, label_selector=NOTEBOOKS)
    return sorted(cm.metadata.name for cm in listed.items)


# -- executed notebooks ---------------------------------------------------------------------------


def test_the_executed_notebooks_of_a_cluster_run_are_read_back_and_deleted_with_it(
    configured: Bodywork, kube: Kube, shared: Path, runs: RunReader
) -> None:
    run_id, _ = deploy(
        configured,
        shared / "nb",
        config("name: nb", prep="", noisy="depends_on: [prep]"),
        prep=["x = 6 * 7", "print('prep printed', x)"],
        # ~200 KB of output that does not compress: its notebook is sent in several parts
        noisy=["import base64, os", "print(base64.b64encode(os.urandom(150_000)).decode())"],
    )

    prep = runs.executed_notebook(run_id, "prep")
    assert "prep printed 42" in outputs(prep)
    assert nbformat.reads(prep.decode(), as_version=4).cells[0].source == "x = 6 * 7"
    noisy = outputs(runs.executed_notebook(run_id, "noisy")).strip()
    assert len(noisy) == 200_000
    assert notebook_records(kube) == sorted(
        rec.notebook_record_name(run_id, stage, 1) for stage in ("prep", "noisy")
    )
    rows = {row.stage: row for row in runs.stages(run_id)}
    assert rows["prep"].notebook_path == rec.notebook_record_name(run_id, "prep", 1)

    # the notebook travelled in the pod's log, and stays out of every log people read
    logs = configured("logs", run_id, "prep")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip() == "prep printed 42"
    noisy_log = configured("logs", run_id, "noisy")
    assert noisy_log.stdout.strip() == noisy  # the same text, and nothing else
    every = configured("logs", run_id)
    for text in (logs.stdout, noisy_log.stdout, every.stdout, runs.log_text(run_id)):
        assert "::bodywork-event::" not in text and "notebook.part" not in text
    (pod,) = kube.pods(f"bodywork.dev/run={run_id},bodywork.dev/stage=noisy")
    assert kube.logs(pod.metadata.name, container="stage").count('"notebook.part"') > 1
    assert not [e for e in runs.events(run_id) if "notebook" in e.type]  # not in the record

    deleted = configured("delete", "deployment", "nb")
    assert deleted.returncode == 0, deleted.stderr
    wait_for("the notebook records to be gone", lambda: notebook_records(kube) == [], timeout=30)


def test_a_notebook_too_large_to_keep_says_so(
    configured: Bodywork, kube: Kube, shared: Path, runs: RunReader
) -> None:
    run_id, _ = deploy(
        configured,
        shared / "big",
        config("name: big", huge=""),
        # 1.6 MB of output that hardly compresses: its gzip is over what a ConfigMap holds
        huge=[
            "import base64, os",
            "for _ in range(12):\n    print(base64.b64encode(os.urandom(100_000)).decode())",
        ],
    )

    with pytest.raises(NotFoundError, match="too large to keep") as caught:
        runs.executed_notebook(run_id, "huge")
    assert "bodywork logs" in str(caught.value)
    assert notebook_records(kube) == [rec.notebook_record_name(run_id, "huge", 1)]
    log = configured("logs", run_id, "huge").stdout.split()
    assert [len(line) for line in log] == [133_336] * 12  # the cell's output, only


# -- Ingress URLs ---------------------------------------------------------------------------------


def test_a_service_with_an_ingress_shows_its_ingress_url_beside_its_in_cluster_url(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    run_id, printed = deploy(
        configured,
        shared / "web",
        config("name: web", serve="service: {port: 8000, ingress: true}"),
        serve=["FACTOR = 3", PREDICT],
    )
    in_cluster = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    sha = subprocess.run(
        ["git", "-C", str(shared / "web"), "rev-parse", "HEAD"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip

    # no ingress controller here: nothing gave the Ingress an address yet
    assert f"serve is serving at {in_cluster} (ingress: waiting for an address)" in printed
    assert prediction(kube, 2) == {"y": 6}

    def listed() -> str:
        shown = configured("get", "deployments")
        assert shown.returncode == 0, shown.stderr
        (line,) = [line for line in shown.stdout.splitlines() if line.startswith("web ")]
        return line

    assert listed().split(maxsplit=4) == [
        "web", "serving", run_id, f"{run_id}@{sha[:8]}",
        f"serve={in_cluster} (ingress: waiting for an address)",
    ]  # fmt: skip

    # an ingress controller gives it a load balancer's address (its status)...
    networking = client.NetworkingV1Api(kube.api)
    address = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    networking.patch_namespaced_ingress_status("serve", kube.namespace, address)
    assert listed().endswith(f"serve={in_cluster} (ingress: http://203.0.113.7/web/serve)")

    # ... and a host on its rule comes first (https once a TLS entry names the host)
    host = [{"op": "add", "path": "/spec/rules/0/host", "value": "ml.example.com"}]
    networking.patch_namespaced_ingress("serve", kube.namespace, host)
    assert listed().endswith("(ingress: http://ml.example.com/web/serve)")
    tls = [{"op": "add", "path": "/spec/tls", "value": [{"hosts": ["ml.example.com"]}]}]
    networking.patch_namespaced_ingress("serve", kube.namespace, tls)
    assert listed().endswith("(ingress: https://ml.example.com/web/serve)")


def test_a_service_without_an_ingress_shows_only_its_in_cluster_url(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    _, printed = deploy(
        configured,
        shared / "quiet",
        config("name: quiet", serve="service: {port: 8000}"),
        serve=["FACTOR = 3", PREDICT],
    )
    in_cluster = f"http://serve.{kube.namespace}.svc.cluster.local:8000"
    assert f"serve is serving at {in_cluster}\n" in printed
    assert "(ingress:" not in printed
