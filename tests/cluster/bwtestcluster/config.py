"""Where the test cluster keeps its files, and the addresses and ports it uses."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CLUSTER_DIR = Path(__file__).resolve().parent.parent  # tests/cluster


def _k8s_version() -> str:
    """The k8s.io/kubernetes version pinned in go.mod (e.g. ``v1.37.2``)."""
    text = (CLUSTER_DIR / "go.mod").read_text()
    match = re.search(r"^require k8s\.io/kubernetes (v\S+)", text, re.M) or re.search(
        r"^\s*k8s\.io/kubernetes (v\S+)", text, re.M
    )
    if not match:
        raise RuntimeError("tests/cluster/go.mod does not require k8s.io/kubernetes")
    return match.group(1)


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bodywork-testcluster"


def _ca_bundle() -> str:
    given = os.environ.get("BODYWORK_TESTCLUSTER_CA_BUNDLE")
    if given is not None:
        return given
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    return ""


@dataclass(frozen=True)
class Config:
    """Everything that names a place: one cluster per machine at a time."""

    state_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("BODYWORK_TESTCLUSTER_STATE", "/tmp/bodywork-testcluster")
        )
    )
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("BODYWORK_TESTCLUSTER_CACHE", str(_default_cache()))
        )
    )
    # PersistentVolumes' folders: outside the state dir, which is under /tmp, where a pod
    # that mounts its own /tmp (an emptyDir, say) would no longer see them
    volumes_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("BODYWORK_TESTCLUSTER_VOLUMES", "/var/tmp/bodywork-testcluster-volumes")
        )
    )
    k8s_version: str = field(default_factory=_k8s_version)
    node_name: str = "testcluster-node"
    etcd_port: int = 23790
    etcd_peer_port: int = 23800
    apiserver_port: int = 16443
    kubelet_port: int = 10250  # HTTPS on the node's address: k8s-testcluster kubelet-server
    agent_port: int = 10248  # HTTP on loopback: the Python agent (logs, pod info)
    # The pod network: a bridge on the host holding the first address, one network
    # namespace (and one address) per pod. Addresses exist only on this machine.
    bridge: str = "bwtc0"
    pod_cidr: str = "10.244.0.0/16"
    bridge_ip: str = "10.244.0.1"
    service_cidr: str = "10.96.0.0/16"
    kubernetes_service_ip: str = "10.96.0.1"
    cluster_domain: str = "cluster.local"
    netns_prefix: str = "bwtc-"
    veth_prefix: str = "bwv"
    iptables_chain: str = "BWTC-SERVICES"
    # Pods reach only this machine unless egress is asked for: then their traffic to
    # other addresses is masqueraded out of the host, and the host's name servers are
    # theirs (for a runner that installs packages from a registry, say).
    egress: bool = field(
        default_factory=lambda: os.environ.get("BODYWORK_TESTCLUSTER_EGRESS", "") == "1"
    )

    # How pods' containers run: "process" (the command as a process of this machine: fast,
    # the image is not looked at) or "container" (in the image, under podman); a namespace
    # labelled testcluster.bodywork.dev/runtime=container runs in containers either way.
    runtime: str = field(
        default_factory=lambda: os.environ.get("BODYWORK_TESTCLUSTER_RUNTIME", "process")
    )

    # Container mode: this machine's CA bundle, mounted read-only over the image's (the
    # node's trust store: this machine reaches the package registries through a TLS
    # proxy of its own, which no image's stock bundle trusts); "" mounts none.
    ca_bundle: str = field(default_factory=lambda: _ca_bundle())

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"

    @property
    def etcd_dir(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"
