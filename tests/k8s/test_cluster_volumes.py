"""The test cluster's storage: its default StorageClass, claims bound to the hostPath volumes
the node agent provisions, pods sharing a claim's files, the volume gone with its claim."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from k8s_helpers import Kube, job, wait_for
from kubernetes import client

STORAGE_CLASS = "bodywork-testcluster"
PROVISIONER = "bodywork.dev/testcluster-hostpath"
VOLUMES = Path("/var/tmp/bodywork-testcluster-volumes")  # bwtestcluster.Config.volumes_dir


def _claim(
    name: str, modes: tuple[str, ...] = ("ReadWriteMany",), size: str = "1Gi"
) -> client.V1PersistentVolumeClaim:
    """A claim with no storageClassName: the cluster's default class serves it."""
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=list(modes),
            resources=client.V1VolumeResourceRequirements(requests={"storage": size}),
        ),
    )


def _bound(kube: Kube, name: str) -> client.V1PersistentVolumeClaim:
    def bound() -> client.V1PersistentVolumeClaim | None:
        pvc = kube.core.read_namespaced_persistent_volume_claim(name, kube.namespace)
        return pvc if pvc.status.phase == "Bound" else None

    return wait_for(f"claim {name} to be Bound", bound, timeout=30)


def _gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except client.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _claim_job(
    name: str, command: str, mount: client.V1VolumeMount, read_only: bool = False
) -> client.V1Job:
    body = job(name, ["sh", "-ec", command])
    spec = body.spec.template.spec
    spec.volumes = [
        client.V1Volume(
            name=mount.name,
            persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name="shared", read_only=read_only
            ),
        )
    ]
    spec.containers[0].volume_mounts = [mount]
    return body


def test_the_default_storage_class_is_the_node_agents(kube: Kube) -> None:
    found = client.StorageV1Api(kube.api).read_storage_class(STORAGE_CLASS)
    assert found.metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true"
    assert found.provisioner == PROVISIONER
    assert (found.volume_binding_mode, found.reclaim_policy) == ("Immediate", "Delete")


def test_a_claim_without_a_class_is_bound_to_a_provisioned_host_path_volume(kube: Kube) -> None:
    kube.core.create_namespaced_persistent_volume_claim(
        kube.namespace, _claim("data", ("ReadWriteOnce",), "2Gi")
    )
    pvc = _bound(kube, "data")
    assert pvc.spec.storage_class_name == STORAGE_CLASS
    assert pvc.status.capacity == {"storage": "2Gi"}
    pv = kube.core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == PROVISIONER
    assert pv.spec.claim_ref.uid == pvc.metadata.uid
    assert pv.spec.capacity == {"storage": "2Gi"}
    assert pv.spec.access_modes == ["ReadWriteOnce"]
    assert pv.spec.storage_class_name == STORAGE_CLASS
    assert pv.spec.persistent_volume_reclaim_policy == "Delete"
    folder = Path(pv.spec.host_path.path)
    assert folder.parent == VOLUMES
    assert folder.name.startswith(f"{kube.namespace}-data-")
    assert folder.is_dir()


def test_a_later_pod_reads_through_a_sub_path_what_an_earlier_pod_wrote(kube: Kube) -> None:
    ns = kube.namespace
    root = f"/tmp/bwtc-pvc-{ns}"
    # the Job goes in at once: the scheduler waits for the claim to be bound
    kube.core.create_namespaced_persistent_volume_claim(ns, _claim("shared"))
    writer = _claim_job(
        "writer",
        f"mkdir -p {root}/data/notes; echo hello > {root}/data/notes/hi.txt",
        client.V1VolumeMount(name="data", mount_path=f"{root}/data"),
    )
    kube.batch.create_namespaced_job(ns, writer)
    assert kube.wait_job("writer").status.succeeded == 1
    # the claim mounted readOnly: every mount of it is read-only
    reader = _claim_job(
        "reader",
        f"cat {root}/notes/hi.txt; touch {root}/notes/x 2>/dev/null || echo read-only",
        client.V1VolumeMount(name="data", mount_path=f"{root}/notes", sub_path="notes"),
        read_only=True,
    )
    kube.batch.create_namespaced_job(ns, reader)
    finished = kube.wait_job("reader")
    (pod,) = kube.pods("job-name=reader")
    logs = kube.logs(pod.metadata.name)
    assert finished.status.succeeded == 1, logs
    assert logs == "hello\nread-only\n"
    # the file is in the volume's folder, not under the mount points made on this machine
    pvc = kube.core.read_namespaced_persistent_volume_claim("shared", ns)
    folder = Path(kube.core.read_persistent_volume(pvc.spec.volume_name).spec.host_path.path)
    assert (folder / "notes" / "hi.txt").read_text() == "hello\n"
    assert not list(Path(root).rglob("hi.txt"))


def test_deleting_a_claim_deletes_its_volume_and_folder(kube: Kube) -> None:
    kube.core.create_namespaced_persistent_volume_claim(kube.namespace, _claim("scratch"))
    pvc = _bound(kube, "scratch")
    name = pvc.spec.volume_name
    folder = Path(kube.core.read_persistent_volume(name).spec.host_path.path)
    (folder / "left.txt").write_text("something")
    kube.core.delete_namespaced_persistent_volume_claim("scratch", kube.namespace)
    wait_for(
        f"volume {name} to be deleted",
        lambda: _gone(lambda: kube.core.read_persistent_volume(name)),
        timeout=30,
    )
    wait_for(f"{folder} to be removed", lambda: not folder.exists(), timeout=10)


def test_a_block_claim_is_refused_with_an_event(kube: Kube) -> None:
    body = _claim("raw")
    body.spec.volume_mode = "Block"
    kube.core.create_namespaced_persistent_volume_claim(kube.namespace, body)

    def refused() -> list[str]:
        events = kube.core.list_namespaced_event(kube.namespace).items
        return [e.message for e in events if e.reason == "ProvisioningFailed"]

    assert "Filesystem only" in wait_for("a ProvisioningFailed event", refused, timeout=30)[0]
    pvc = kube.core.read_namespaced_persistent_volume_claim("raw", kube.namespace)
    assert pvc.status.phase == "Pending"
