"""Our layer over the Kubernetes client, against the real API server: apply, delete, and
errors a person can act on (unreachable, forbidden, a context that is not there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from k8s_helpers import Kube
from kubernetes import client

from bodywork_jupyter.backends.kubernetes.cluster import Cluster, ClusterPermissionError
from bodywork_jupyter.errors import BadInputError, TargetUnreachableError


def config_map(namespace: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": namespace},
        "data": {"value": value},
    }


def test_apply_creates_then_updates_and_delete_is_idempotent(
    kube: Kube, k8s_kubeconfig: str
) -> None:
    cluster = Cluster(kubeconfig=k8s_kubeconfig)
    try:
        made = cluster.apply(config_map(kube.namespace, "one"))
        assert made["data"] == {"value": "one"}
        again = cluster.apply(config_map(kube.namespace, "two"))
        assert again["data"] == {"value": "two"}
        assert again["metadata"]["uid"] == made["metadata"]["uid"]  # the same object
        stored = kube.core.read_namespaced_config_map("settings", kube.namespace)
        assert stored.data == {"value": "two"}
        dry = cluster.apply(config_map(kube.namespace, "three"), dry_run=True)
        assert dry["data"] == {"value": "three"}
        assert kube.core.read_namespaced_config_map("settings", kube.namespace).data == {
            "value": "two"
        }
        assert cluster.delete(config_map(kube.namespace, "")) is True
        assert cluster.delete(config_map(kube.namespace, "")) is False
    finally:
        cluster.close()


def test_a_forbidden_request_names_the_permission_and_the_fix(
    kube: Kube, k8s_api: client.ApiClient
) -> None:
    kube.core.create_namespaced_service_account(
        kube.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    token = kube.core.create_namespaced_service_account_token(
        "nobody", kube.namespace, client.AuthenticationV1TokenRequest(spec={"audiences": []})
    ).status.token
    configuration = client.Configuration()
    configuration.host = k8s_api.configuration.host
    configuration.ssl_ca_cert = k8s_api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    cluster = Cluster(context="nobody", api_client=client.ApiClient(configuration))
    with pytest.raises(ClusterPermissionError) as refused:
        cluster.apply(config_map(kube.namespace, "x"))
    message = str(refused.value)
    assert "configmaps" in message and "cannot patch" in message, message
    assert "bodywork configure-cluster" in message
    assert token not in message
    cluster.close()


def test_an_unreachable_cluster_names_its_context(tmp_path: Path, k8s_kubeconfig: str) -> None:
    kubeconfig = yaml.safe_load(Path(k8s_kubeconfig).read_text(encoding="utf-8"))
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    kubeconfig["contexts"].append(
        {"name": "elsewhere", "context": dict(kubeconfig["contexts"][0]["context"])}
    )
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    cluster = Cluster(context="elsewhere", kubeconfig=str(path))
    cluster.api_client.configuration.retries = 0
    with pytest.raises(
        TargetUnreachableError, match=r"context elsewhere at https://127\.0\.0\.1:1"
    ):
        cluster.call(cluster.core.list_namespace)
    cluster.close()
    with pytest.raises(BadInputError, match=r"--context nope: not in the kubeconfig \(contexts:"):
        Cluster(context="nope", kubeconfig=str(path))
