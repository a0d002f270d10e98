"""Services: ClusterIP rules from EndpointSlices, and the names pods resolve.

The agent plays kube-proxy (iptables DNAT for each ClusterIP port to the ready endpoints)
and the cluster DNS (a hosts file per pod naming every Service, kept current).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

from bwtestcluster import network
from bwtestcluster.agent import envvars
from bwtestcluster.config import Config

log = logging.getLogger("agent.services")


class ServiceIndex:
    def __init__(self, config: Config, api_client: client.ApiClient) -> None:
        self.config = config
        self.core = client.CoreV1Api(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self.services: dict[tuple[str, str], client.V1Service] = {}
        self.slices: dict[tuple[str, str], client.V1EndpointSlice] = {}
        self.lock = threading.Lock()
        self.dirty = threading.Event()
        self.on_change: list[Callable[[], None]] = []
        self.stopping = False

    # -- views -------------------------------------------------------------------

    def link_env(self, namespace: str) -> dict[str, str]:
        with self.lock:
            services = [s for (ns, _), s in self.services.items() if ns == namespace]
            master = self.services.get(("default", "kubernetes"))
        env = envvars.service_links([master]) if master is not None else {}
        env.update(envvars.service_links(services))
        return env

    def _ready_endpoints(self, namespace: str, service: str) -> list[tuple[str, dict[str, int]]]:
        """(pod ip, {port name: port}) of the ready endpoints of a Service."""
        found: list[tuple[str, dict[str, int]]] = []
        for (ns, _), eps in self.slices.items():
            labels = eps.metadata.labels or {}
            if ns != namespace or labels.get("kubernetes.io/service-name") != service:
                continue
            ports = {(p.name or ""): int(p.port) for p in eps.ports or [] if p.port}
            for endpoint in eps.endpoints or []:
                if endpoint.conditions and endpoint.conditions.ready is False:
                    continue
                for address in endpoint.addresses:
                    found.append((address, ports))
        return found

    def hosts_file(self, namespace: str, pod: client.V1Pod, pod_ip: str) -> str:
        domain = self.config.cluster_domain
        hostname = pod.spec.hostname or pod.metadata.name
        lines = [
            "# written by the bodywork test cluster's node agent",
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
        ]
        own = [hostname]
        if pod.spec.subdomain:
            own.insert(0, f"{hostname}.{pod.spec.subdomain}.{namespace}.svc.{domain}")
        lines.append(f"{pod_ip}\t{' '.join(own)}")
        with self.lock:
            items = sorted(self.services.items(), key=lambda kv: kv[0])
            for (ns, name), svc in items:
                names = [f"{name}.{ns}.svc.{domain}", f"{name}.{ns}.svc", f"{name}.{ns}"]
                if ns == namespace:
                    names.append(name)
                ip = svc.spec.cluster_ip
                if ip and ip != "None":
                    lines.append(f"{ip}\t{' '.join(names)}")
                elif svc.spec.cluster_ip == "None":  # headless: the pods themselves
                    for address, _ in self._ready_endpoints(ns, name):
                        lines.append(f"{address}\t{' '.join(names)}")
        return "\n".join(lines) + "\n"

    def _rules(self) -> list[network.ServicePort]:
        ports: list[network.ServicePort] = []
        with self.lock:
            for (ns, name), svc in self.services.items():
                ip = svc.spec.cluster_ip
                if not ip or ip == "None":
                    continue
                endpoints = self._ready_endpoints(ns, name)
                for port in svc.spec.ports or []:
                    targets = []
                    for address, named in endpoints:
                        target = named.get(port.name or "")
                        if target is None and len(named) == 1:
                            target = next(iter(named.values()))
                        if target is not None:
                            targets.append((address, target))
                    node_port = port.node_port if svc.spec.type in ("NodePort", "LoadBalancer") else None
                    ports.append(
                        network.ServicePort(
                            ip, int(port.port), port.protocol or "TCP", tuple(targets), node_port
                        )
                    )
        return ports

    # -- sync --------------------------------------------------------------------

    def _watch(self, kind: str, lister: Callable[..., Any], store: dict[Any, Any]) -> None:
        while not self.stopping:
            try:
                listing = lister()
                with self.lock:
                    store.clear()
                    for obj in listing.items:
                        store[(obj.metadata.namespace, obj.metadata.name)] = obj
                self.dirty.set()
                stream = watch.Watch().stream(
                    lister,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=240,
                )
                for event in stream:
                    obj = event["object"]
                    key = (obj.metadata.namespace, obj.metadata.name)
                    with self.lock:
                        if event["type"] == "DELETED":
                            store.pop(key, None)
                        else:
                            store[key] = obj
                    self.dirty.set()
                    if self.stopping:
                        return
            except Exception as exc:  # the API restarts, a watch expires: list again
                if not self.stopping:
                    log.info("%s watch: %s; listing again", kind, exc)
                    time.sleep(1)

    def _sync_loop(self) -> None:
        while not self.stopping:
            self.dirty.wait(5)
            if self.stopping:
                return
            self.dirty.clear()
            try:
                network.apply_service_rules(self.config, self._rules())
            except Exception as exc:
                log.warning("service rules: %s", exc)
            for callback in list(self.on_change):
                callback()
            time.sleep(0.2)  # coalesce bursts of events

    def start(self) -> None:
        threads = [
            ("services", lambda: self._watch(
                "services", self.core.list_service_for_all_namespaces, self.services)),
            ("endpointslices", lambda: self._watch(
                "endpointslices", self.discovery.list_endpoint_slice_for_all_namespaces,
                self.slices)),
            ("service-sync", self._sync_loop),
        ]  # fmt: skip
        for name, target in threads:
            threading.Thread(target=target, name=name, daemon=True).start()
