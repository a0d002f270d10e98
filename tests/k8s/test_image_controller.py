"""The in-cluster controller in the stage image, against the real API server.

A container of the image built here (``tests/image/image_helpers``) runs
``bodywork-controller`` as the namespace's ``bodywork-controller`` service account, with
the in-cluster config a pod gets (its token, the cluster's CA, ``KUBERNETES_SERVICE_*``):
it connects, is allowed to read the run records, and says the run is not there. (Stage
pods in the image: ``test_image_pods.py``.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from k8s_helpers import Kube
from kubernetes import client

from tests.image.image_helpers import Image

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _service_account_files(kube: Kube, kubeconfig: str, folder: Path) -> tuple[str, str]:
    """What a pod of the controller's service account gets; returns (host, port)."""
    config = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    cluster = config["clusters"][0]["cluster"]
    server = urlsplit(cluster["server"])
    folder.mkdir()
    ca = folder / "ca.crt"
    if "certificate-authority" in cluster:
        ca.write_bytes(Path(cluster["certificate-authority"]).read_bytes())
    else:
        import base64

        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    token = kube.core.create_namespaced_service_account_token(
        "bodywork-controller",
        kube.namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    )
    (folder / "token").write_text(token.status.token)  # never printed
    (folder / "namespace").write_text(kube.namespace)
    for path in (folder, *folder.iterdir()):
        os.chown(path, 1000, 1000)  # the image's user reads them, as a pod's projected volume
    return str(server.hostname), str(server.port or 443)


def test_the_controller_in_the_image_reads_the_cluster_as_its_service_account(
    kube: Kube, stage_image: Image, k8s_kubeconfig: str, tmp_path: Path
) -> None:
    setup = subprocess.run(
        [sys.executable, "-m", "bodywork_jupyter", "configure-cluster",
         "--namespace", kube.namespace],
        env={**os.environ, "KUBECONFIG": k8s_kubeconfig}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    host, port = _service_account_files(kube, k8s_kubeconfig, tmp_path / "sa")
    done = stage_image.run(
        "--", "bodywork-controller", "--namespace", kube.namespace, "--run", "run-nope",
        entrypoint="/usr/bin/tini",
        network="host",  # the API server listens on this machine's loopback
        volumes=(f"{tmp_path / 'sa'}:{SA_DIR}:ro",),
        env={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port},
        timeout=120,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert f"(in-cluster) for namespace {kube.namespace}" in said, said
    assert f"no run 'run-nope' in namespace {kube.namespace}" in said, said
    assert done.returncode == 2, said
