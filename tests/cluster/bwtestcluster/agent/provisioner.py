"""Dynamic provisioning: a hostPath PersistentVolume for each claim of the cluster's class.

The agent plays an external provisioner. For a claim whose StorageClass names
``storage.PROVISIONER`` (a claim without a class gets the default one, which does) and
that is still Pending and unbound, it makes a folder under ``config.volumes_dir`` and a
PersistentVolume pre-bound to the claim (``claimRef``); kube-controller-manager's PV
controller then binds the two, as it does for any external provisioner. When the claim is
deleted the PV controller marks the PV Released and, knowing no plugin by our name, leaves
its deletion to us: the folder and the PV are removed (reclaimPolicy Delete; a Retain PV
and its folder stay until ``testcluster down``).

One node: every access mode is served; the capacity asked for is recorded, not enforced;
Filesystem volumes only (a Block claim, a claim with a selector or a dataSource gets a
ProvisioningFailed event and stays Pending).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from bwtestcluster import storage
from bwtestcluster.config import Config

log = logging.getLogger("agent.provisioner")

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
RESYNC = 60  # seconds a watch lasts before everything is listed (and retried) again


@dataclass(frozen=True)
class Claim:
    """What the provisioner reads of a PersistentVolumeClaim."""

    namespace: str
    name: str
    uid: str
    phase: str  # Pending until the PV controller says otherwise
    volume_name: str  # "" while unbound
    deleting: bool
    storage_class: str  # "" without one (the PV controller then gives it the default)
    request: str  # spec.resources.requests.storage (required by the API)
    access_modes: tuple[str, ...]
    volume_mode: str
    selector: bool
    data_source: bool

    @classmethod
    def of(cls, pvc: client.V1PersistentVolumeClaim) -> Claim:
        meta, spec = pvc.metadata, pvc.spec
        assert meta is not None and spec is not None  # set on every object the API returns
        requests = (spec.resources.requests if spec.resources else None) or {}
        return cls(
            namespace=meta.namespace or "",
            name=meta.name or "",
            uid=meta.uid or "",
            phase=(pvc.status.phase if pvc.status else None) or "Pending",
            volume_name=spec.volume_name or "",
            deleting=meta.deletion_timestamp is not None,
            storage_class=spec.storage_class_name or "",
            request=requests.get("storage", ""),
            access_modes=tuple(spec.access_modes or ()),
            volume_mode=spec.volume_mode or "Filesystem",
            selector=spec.selector is not None,
            data_source=spec.data_source is not None or spec.data_source_ref is not None,
        )

    @property
    def volume(self) -> str:
        """The PV's name, as external provisioners name it: one PV per claim, ever."""
        return f"pvc-{self.uid}"

    @property
    def needs_volume(self) -> bool:
        """Pending, unbound and not being deleted: a claim a provisioner may act on."""
        return self.phase == "Pending" and not self.volume_name and not self.deleting

    def refusal(self) -> str | None:
        """Why this provisioner cannot serve the claim, or None."""
        if self.volume_mode != "Filesystem":
            return f"volumeMode {self.volume_mode} is not supported (Filesystem only)"
        if self.selector:
            return "a claim with a selector cannot be provisioned dynamically"
        if self.data_source:
            return "dataSource (cloning, snapshots) is not supported"
        return None


@dataclass(frozen=True)
class Volume:
    """What the provisioner reads of a PersistentVolume."""

    name: str
    provisioned_by: str
    phase: str
    reclaim_policy: str
    host_path: str | None
    deleting: bool

    @classmethod
    def of(cls, pv: client.V1PersistentVolume) -> Volume:
        meta, spec = pv.metadata, pv.spec
        assert meta is not None and spec is not None  # set on every object the API returns
        return cls(
            name=meta.name or "",
            provisioned_by=(meta.annotations or {}).get(PROVISIONED_BY, ""),
            phase=(pv.status.phase if pv.status else None) or "Pending",
            reclaim_policy=spec.persistent_volume_reclaim_policy or "",
            host_path=spec.host_path.path if spec.host_path else None,
            deleting=meta.deletion_timestamp is not None,
        )


def folder_for(volumes_dir: Path, claim: Claim) -> Path:
    # a readable name, cut to stay within a file name's 255 bytes (names are ASCII)
    return volumes_dir / (f"{claim.namespace}-{claim.name}"[:200] + f"-{claim.uid[:8]}")


def persistent_volume(
    claim: Claim, storage_class: client.V1StorageClass, folder: Path, provisioner: str
) -> client.V1PersistentVolume:
    """The PV for ``claim``: its request, its access modes, bound to it by claimRef."""
    assert storage_class.metadata is not None
    return client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=claim.volume, annotations={PROVISIONED_BY: provisioner}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": claim.request},
            access_modes=list(claim.access_modes),
            claim_ref=client.V1ObjectReference(
                api_version="v1", kind="PersistentVolumeClaim", namespace=claim.namespace,
                name=claim.name, uid=claim.uid,
            ),
            storage_class_name=storage_class.metadata.name,
            persistent_volume_reclaim_policy=storage_class.reclaim_policy or "Delete",
            volume_mode="Filesystem",
            host_path=client.V1HostPathVolumeSource(path=str(folder), type="DirectoryOrCreate"),
        ),
    )  # fmt: skip


def _events(lister: Callable[..., Any], version: str) -> Iterator[dict[str, Any]]:
    """The watch events after ``version``, for RESYNC seconds."""
    watcher = watch.Watch()  # type: ignore[no-untyped-call]
    events: Iterator[dict[str, Any]] = watcher.stream(  # type: ignore[no-untyped-call]
        lister, resource_version=version, timeout_seconds=RESYNC
    )
    return events


class Provisioner:
    """Two watches, claims and volumes; ``start`` runs them on daemon threads."""

    def __init__(
        self,
        config: Config,
        api_client: client.ApiClient,
        stopping: threading.Event,
        provisioner: str = storage.PROVISIONER,
    ) -> None:
        self.config = config
        self.core = client.CoreV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.stopping = stopping
        self.provisioner = provisioner
        self._refused: set[str] = set()  # claim uids already told why not (one event each)

    # -- claims --------------------------------------------------------------------

    def _class_of(self, claim: Claim) -> client.V1StorageClass | None:
        """The claim's StorageClass if this provisioner serves it."""
        if not claim.storage_class:  # the PV controller gives it the default class, if any
            return None
        try:
            found: client.V1StorageClass = self.storage.read_storage_class(claim.storage_class)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found if found.provisioner == self.provisioner else None

    def claim_changed(self, kind: str, pvc: client.V1PersistentVolumeClaim) -> None:
        claim = Claim.of(pvc)
        if kind == "DELETED" or not claim.needs_volume:
            return
        storage_class = self._class_of(claim)
        if storage_class is None:
            return
        why_not = claim.refusal()
        if why_not is not None:
            if claim.uid not in self._refused:
                self._refused.add(claim.uid)
                self._event(claim, "Warning", "ProvisioningFailed", why_not)
            return
        folder = folder_for(self.config.volumes_dir, claim)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            self.core.create_persistent_volume(
                persistent_volume(claim, storage_class, folder, self.provisioner)
            )
        except client.ApiException as exc:
            if exc.status == 409:  # made on an earlier event; the PV controller binds it
                return
            raise
        log.info(
            "provisioned %s for %s/%s at %s", claim.volume, claim.namespace, claim.name, folder
        )
        message = f"Successfully provisioned volume {claim.volume}"
        self._event(claim, "Normal", "ProvisioningSucceeded", message)

    # -- volumes -------------------------------------------------------------------

    def volume_changed(self, kind: str, pv: client.V1PersistentVolume) -> None:
        volume = Volume.of(pv)
        if kind == "DELETED" or volume.deleting or volume.provisioned_by != self.provisioner:
            return
        if volume.phase != "Released" or volume.reclaim_policy != "Delete":
            return
        if volume.host_path is not None:
            folder = Path(volume.host_path)
            # only a folder this provisioner made: a PV's path is anyone's to write
            if folder.parent == self.config.volumes_dir:
                shutil.rmtree(folder, ignore_errors=True)
        try:
            self.core.delete_persistent_volume(volume.name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        log.info("deleted %s and its folder (its claim is gone)", volume.name)

    # -- events and watches --------------------------------------------------------

    def _event(self, claim: Claim, kind: str, reason: str, message: str) -> None:
        """An Event on the claim, as the external provisioners record them."""
        now = dt.datetime.now(dt.UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                name=f"{claim.name}.{uuid.uuid4().hex[:16]}", namespace=claim.namespace
            ),
            involved_object=client.V1ObjectReference(
                api_version="v1", kind="PersistentVolumeClaim", name=claim.name,
                namespace=claim.namespace, uid=claim.uid,
            ),
            reason=reason, message=message, type=kind,
            source=client.V1EventSource(component=self.provisioner),
            first_timestamp=now, last_timestamp=now, count=1,
            reporting_component=self.provisioner, reporting_instance=self.config.node_name,
        )  # fmt: skip
        try:
            self.core.create_namespaced_event(claim.namespace, body)
        except client.ApiException as exc:
            log.debug("event %s on %s/%s: %s", reason, claim.namespace, claim.name, exc.reason)

    def _watch(
        self, what: str, lister: Callable[..., Any], handle: Callable[[str, Any], None]
    ) -> None:
        """List, handle each, watch from the listing's resourceVersion; list again when the
        watch ends or fails (410 Gone, the API restarting), which also retries failures."""
        while not self.stopping.is_set():
            try:
                listing = lister()
                for obj in listing.items:
                    self._handle(what, handle, "MODIFIED", obj)
                # an ERROR event (410 Gone: the version is too old) raises ApiException
                for event in _events(lister, listing.metadata.resource_version):
                    self._handle(what, handle, event["type"], event["object"])
                    if self.stopping.is_set():
                        return
            except Exception as exc:
                if not self.stopping.is_set():
                    log.info("%s watch: %s; listing again", what, exc)
                    time.sleep(1)

    def _handle(self, what: str, handle: Callable[[str, Any], None], kind: str, obj: Any) -> None:
        # one object's failure does not stop the others; the next listing retries it
        try:
            handle(kind, obj)
        except Exception as exc:
            log.warning("%s %s: %s", what, obj.metadata.name, exc)

    def start(self) -> None:
        self.config.volumes_dir.mkdir(parents=True, exist_ok=True)
        threads = [
            ("pvc-watch", lambda: self._watch(
                "persistentvolumeclaims",
                self.core.list_persistent_volume_claim_for_all_namespaces, self.claim_changed)),
            ("pv-watch", lambda: self._watch(
                "persistentvolumes", self.core.list_persistent_volume, self.volume_changed)),
        ]  # fmt: skip
        for name, target in threads:
            threading.Thread(target=target, name=name, daemon=True).start()
