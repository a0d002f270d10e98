"""The ``k8s`` tier: tests against a real kube-apiserver and the real controllers.

The session fixture ``k8s_kubeconfig`` starts the test cluster with ``scripts/testcluster
up`` (and stops it at the end), unless ``BODYWORK_TESTCLUSTER_KUBECONFIG`` names the
kubeconfig of a cluster already running, or one is already up (then it is left running).
Its pods may reach the package index (``BODYWORK_TESTCLUSTER_EGRESS=1``), so stages
install their requirements as they would on any cluster.
Every test gets its own namespace through the ``kube`` fixture.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTCLUSTER = ROOT / "scripts" / "testcluster"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # k8s_helpers, any import mode

try:
    from k8s_helpers import Kube, wait_for
    from kubernetes import client
    from kubernetes import config as kube_config

    from tests.image.image_helpers import Image
except ImportError:  # the tier's deps are absent: its tests are not collected
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "k8s: needs the real test cluster (scripts/testcluster; root, Go, etcd)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.k8s)


def _testcluster(*args: str) -> subprocess.CompletedProcess[str]:
    # egress: stage pods install their requirements from the package index, as on a cluster
    env = dict(os.environ, PYTHON=sys.executable, BODYWORK_TESTCLUSTER_EGRESS="1")
    return subprocess.run(
        [str(TESTCLUSTER), *args], env=env, capture_output=True, text=True, timeout=1800
    )


@pytest.fixture(scope="session")
def k8s_kubeconfig() -> Iterator[str]:
    given = os.environ.get("BODYWORK_TESTCLUSTER_KUBECONFIG")
    if given:
        yield given
        return
    if os.geteuid() != 0:
        reason = "the test cluster needs root (network namespaces, iptables)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run every tier", pytrace=False)
        pytest.skip(reason)
    already_up = _testcluster("status").returncode == 0
    result = _testcluster("up")
    if result.returncode != 0:
        pytest.fail(f"scripts/testcluster up failed:\n{result.stderr}", pytrace=False)
    try:
        yield result.stdout.strip().splitlines()[-1]
    finally:
        if not already_up:
            _testcluster("down")


@pytest.fixture(scope="session")
def k8s_api(k8s_kubeconfig: str) -> client.ApiClient:
    return kube_config.new_client_from_config(config_file=k8s_kubeconfig)


@pytest.fixture
def kube(k8s_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[Kube]:
    core = client.CoreV1Api(k8s_api)
    # a DNS label: parametrized names hold brackets and more
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"{base}-{uuid.uuid4().hex[:5]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # pods are refused until the service account controller made "default"
    wait_for(
        f"service account default in {name}",
        lambda: core.read_namespaced_service_account("default", name),
        timeout=30,
    )
    try:
        yield Kube(k8s_api, name)
    finally:
        core.delete_namespace(name, propagation_policy="Foreground")


@pytest.fixture(scope="session")
def stage_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """The stage image, built here as the image tier builds it (cached: seconds when warm)."""
    from tests.image.image_helpers import missing, tier_image

    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI must run every tier", pytrace=False)
        pytest.skip(why)
    with tier_image(tmp_path_factory.mktemp("podman")) as built:
        yield built
