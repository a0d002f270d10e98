"""The node agent: registers the Node, keeps it Ready, runs the pods bound to it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import platform
import signal
import threading
import time
import uuid
from typing import Any

from kubernetes import client, config as kube_config, watch

from bwtestcluster.agent.containers import RUNTIME_LABEL, Podman
from bwtestcluster.agent.logs import LogServer, LogSource
from bwtestcluster.agent.pods import PodWorker, stamp
from bwtestcluster.agent.provisioner import Provisioner
from bwtestcluster.agent.services import ServiceIndex
from bwtestcluster.agent.volumes import MountPoints
from bwtestcluster.config import Config

log = logging.getLogger("agent")

HEARTBEAT = 10  # seconds between Lease renewals and Node status updates


class Ipam:
    """Pod addresses from the pod CIDR, after the bridge's."""

    def __init__(self, config: Config) -> None:
        net = ipaddress.ip_network(config.pod_cidr)
        self._free = (str(ip) for ip in net.hosts() if str(ip) != config.bridge_ip)
        self._released: list[str] = []
        self._by_uid: dict[str, str] = {}
        self._lock = threading.Lock()

    def allocate(self, uid: str) -> str:
        with self._lock:
            if uid in self._by_uid:
                return self._by_uid[uid]
            # reuse addresses only after the fresh ones ran out: a Service rule or a
            # hosts line naming an old pod must not reach a new one
            ip = next(self._free, None) or self._released.pop(0)
            self._by_uid[uid] = ip
            return ip

    def release(self, uid: str) -> None:
        with self._lock:
            ip = self._by_uid.pop(uid, None)
            if ip:
                self._released.append(ip)


class Agent:
    def __init__(self, config: Config, kubeconfig: str) -> None:
        self.config = config
        self.api_client = kube_config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.ipam = Ipam(config)
        self.mount_points = MountPoints()
        self.services = ServiceIndex(config, self.api_client)
        self.services.on_change.append(self._refresh_resolvers)
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.provisioner = Provisioner(config, self.api_client, self.stopping)
        self.boot_id = str(uuid.uuid4())
        self._podman: Podman | None = None
        self._podman_lock = threading.Lock()  # not self.lock: pods are made while it is held

    def podman_for(self, pod: client.V1Pod) -> Podman | None:
        """Podman if ``pod`` runs in container mode (the agent's runtime, or its
        namespace's label), else None: its containers are processes of this machine."""
        wanted = self.config.runtime == "container"
        if not wanted:
            try:
                namespace = self.core.read_namespace(pod.metadata.namespace)
            except client.ApiException:
                return None
            labels = namespace.metadata.labels or {}
            wanted = labels.get(RUNTIME_LABEL) == "container"
        if not wanted:
            return None
        with self._podman_lock:
            if self._podman is None:
                self._podman = Podman(self.config.state_dir)
            return self._podman

    # -- node ----------------------------------------------------------------------

    def _node_status(self) -> dict[str, Any]:
        now = stamp()
        capacity = {"cpu": "32", "memory": "128Gi", "pods": "250", "ephemeral-storage": "100Gi"}
        conditions = [
            ("Ready", "True", "KubeletReady", "bodywork test cluster node agent is ready"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
        ]
        version = self.config.k8s_version
        return {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": self._started,
                }
                for kind, status, reason, message in conditions
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.config.bridge_ip},
                {"type": "Hostname", "address": self.config.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.kubelet_port}},
            "nodeInfo": {
                "machineID": _machine_id(),
                "systemUUID": _machine_id(),
                "bootID": self.boot_id,
                "kernelVersion": platform.release(),
                "osImage": "bodywork-testcluster (local processes)",
                "containerRuntimeVersion": "bodywork-testcluster://1",
                "kubeletVersion": version,
                "kubeProxyVersion": version,
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
        }

    def register(self) -> None:
        self._started = stamp()
        name = self.config.node_name
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            "node-role.kubernetes.io/worker": "",
        }
        node = client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels))
        try:
            self.core.create_node(node)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        self.core.patch_node_status(name, {"status": self._node_status()})
        log.info("node %s registered", name)

    def _renew_lease(self) -> None:
        name = self.config.node_name
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now},
        }
        try:
            self.coordination.patch_namespaced_lease(name, "kube-node-lease", body)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease("kube-node-lease", body)

    def _heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT):
            try:
                self._renew_lease()
                self.core.patch_node_status(
                    self.config.node_name, {"status": self._node_status()}
                )
            except Exception as exc:
                log.warning("heartbeat: %s", exc)

    # -- events --------------------------------------------------------------------

    def event(self, pod: client.V1Pod, kind: str, reason: str, message: str) -> None:
        """Record an Event on ``pod`` as the kubelet does (``kubectl describe`` shows it)."""
        now = dt.datetime.now(dt.UTC)
        meta = pod.metadata
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                name=f"{meta.name}.{uuid.uuid4().hex[:16]}", namespace=meta.namespace
            ),
            involved_object=client.V1ObjectReference(
                api_version="v1", kind="Pod", name=meta.name, namespace=meta.namespace,
                uid=meta.uid,
            ),
            reason=reason,
            message=message,
            type=kind,
            source=client.V1EventSource(component="kubelet", host=self.config.node_name),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            reporting_component="kubelet",
            reporting_instance=self.config.node_name,
        )  # fmt: skip
        try:
            self.core.create_namespaced_event(meta.namespace, body)
        except client.ApiException as exc:
            log.debug("event %s on %s/%s: %s", reason, meta.namespace, meta.name, exc.reason)

    # -- pods ----------------------------------------------------------------------

    def forget(self, worker: PodWorker) -> None:
        with self.lock:
            if self.workers.get(worker.uid) is worker:
                del self.workers[worker.uid]

    def _refresh_resolvers(self) -> None:
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.refresh_resolver()

    def locate_log(self, namespace: str, pod: str, container: str, previous: bool) -> LogSource | str:
        with self.lock:
            found = [
                w for w in self.workers.values() if w.namespace == namespace and w.pod_name == pod
            ]
        if not found:
            return f'pod "{pod}" not found on node {self.config.node_name}'
        return found[-1].locate_log(container, previous)

    def describe_pod(self, namespace: str, pod: str, container: str) -> dict[str, Any] | str:
        with self.lock:
            found = [
                w for w in self.workers.values() if w.namespace == namespace and w.pod_name == pod
            ]
        if not found:
            return f'pod "{pod}" not found on node {self.config.node_name}'
        return found[-1].describe(container)

    def _handle(self, kind: str, pod: client.V1Pod) -> None:
        uid = pod.metadata.uid
        with self.lock:
            worker = self.workers.get(uid)
            if kind == "DELETED":
                if worker is not None:
                    worker.deleted()
                return
            if worker is None:
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                worker.start()
                return
        worker.update(pod)

    def _watch_pods(self) -> None:
        selector = f"spec.nodeName={self.config.node_name}"
        while not self.stopping.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces(field_selector=selector)
                present = {p.metadata.uid for p in listing.items}
                with self.lock:
                    vanished = [w for uid, w in self.workers.items() if uid not in present]
                for worker in vanished:
                    worker.deleted()
                for pod in listing.items:
                    self._handle("MODIFIED", pod)
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=240,
                )
                for event in stream:
                    self._handle(event["type"], event["object"])
                    if self.stopping.is_set():
                        return
            except Exception as exc:
                if not self.stopping.is_set():
                    log.info("pod watch: %s; listing again", exc)
                    time.sleep(1)

    # -- life ----------------------------------------------------------------------

    def run(self) -> None:
        server = LogServer(
            ("127.0.0.1", self.config.agent_port), self.locate_log, self.describe_pod
        )
        server.start()
        self.register()
        self._renew_lease()
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        self.services.start()
        self.provisioner.start()
        threading.Thread(target=self._watch_pods, name="pod-watch", daemon=True).start()
        self.stopping.wait()
        log.info("stopping: terminating pods")
        self.services.stopping = True
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.join(timeout=10)
        server.shutdown()

    def stop(self, *_: object) -> None:
        self.stopping.set()


def _machine_id() -> str:
    try:
        with open("/etc/machine-id") as handle:
            return handle.read().strip() or "bodywork-testcluster"
    except OSError:
        return "bodywork-testcluster"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def main(config: Config, kubeconfig: str) -> None:
    logging.basicConfig(
        level=os.environ.get("BODYWORK_TESTCLUSTER_LOG", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s",
    )
    agent = Agent(config, kubeconfig)
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    agent.run()
