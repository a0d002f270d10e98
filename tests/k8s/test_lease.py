"""At most one controller drives a deployment: the Lease, on the real API server."""

from __future__ import annotations

import asyncio
import time

import pytest
from k8s_helpers import Kube
from kubernetes import client

from bodywork_jupyter.backends.kubernetes.cluster import Cluster
from bodywork_jupyter.backends.kubernetes.lease import DeploymentLease, LeaseLostError


def leases(kube: Kube) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(kube.core.api_client)


def test_one_holder_at_a_time_and_an_expired_holder_loses_it(
    kube: Kube, k8s_kubeconfig: str
) -> None:
    cluster = Cluster(kubeconfig=k8s_kubeconfig)
    first = DeploymentLease(cluster, kube.namespace, "bw-demo", "pod-a", duration=2)
    second = DeploymentLease(cluster, kube.namespace, "bw-demo", "pod-b", duration=2)
    assert first.try_acquire() is True
    assert first.try_acquire() is True  # ours already: renewed
    assert second.try_acquire() is False
    stored = leases(kube).read_namespaced_lease("bw-demo", kube.namespace)
    assert stored.spec.holder_identity == "pod-a"
    # pod-a stops renewing (killed): after its duration pod-b takes over
    time.sleep(2.5)
    assert second.try_acquire() is True
    assert first.try_acquire() is False
    second.release()
    released = leases(kube).read_namespaced_lease("bw-demo", kube.namespace)
    assert released.spec.holder_identity is None
    assert first.try_acquire() is True
    cluster.close()


def test_acquire_waits_for_the_holder_and_times_out_with_a_clear_error(
    kube: Kube, k8s_kubeconfig: str
) -> None:
    cluster = Cluster(kubeconfig=k8s_kubeconfig)
    holder = DeploymentLease(cluster, kube.namespace, "bw-busy", "pod-a", duration=30)
    waiter = DeploymentLease(cluster, kube.namespace, "bw-busy", "pod-b", duration=30)

    async def main() -> None:
        await holder.acquire(timeout=5)  # renews in the background while this runs
        with pytest.raises(LeaseLostError, match="another controller drives this deployment"):
            await waiter.acquire(timeout=1.5, poll=0.2)
        holder.release()
        await waiter.acquire(timeout=5, poll=0.2)
        waiter.release()

    asyncio.run(main())
    cluster.close()
