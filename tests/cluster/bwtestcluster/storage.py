"""The storage the test cluster offers: one default StorageClass, provisioned by the agent.

Plain data, no client: ``controlplane.up`` creates the class; the agent's provisioner
(``agent/provisioner.py``) makes a hostPath PersistentVolume for each claim of a class
whose provisioner is ``PROVISIONER``.
"""

from __future__ import annotations

from typing import Any

STORAGE_CLASS = "bodywork-testcluster"
PROVISIONER = "bodywork.dev/testcluster-hostpath"


def storage_class() -> dict[str, Any]:
    """The default StorageClass: a claim without a class gets it (DefaultStorageClass)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
