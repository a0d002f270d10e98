"""The pod network: a host bridge, one network namespace per pod, Service rules.

Every address lives on this machine: the bridge holds ``bridge_ip``, each pod's namespace
one address of ``pod_cidr`` behind a veth pair, and a Service's ClusterIP exists only as
iptables DNAT rules (chain ``iptables_chain`` of the nat table) that send its traffic to
the pods behind it. Names are written per pod into ``/etc/netns/<netns>/hosts``, which
``ip netns exec`` binds over ``/etc/hosts`` inside the pod.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bwtestcluster.config import Config

NETNS_ETC = Path("/etc/netns")


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")
    return result


def _prefixlen(config: Config) -> int:
    return ipaddress.ip_network(config.pod_cidr).prefixlen


def _masquerade_rule(config: Config) -> list[str]:
    return [
        "POSTROUTING", "-s", config.pod_cidr, "-m", "conntrack", "--ctstate", "DNAT",
        "-j", "MASQUERADE", "-m", "comment", "--comment", "bodywork-testcluster",
    ]  # fmt: skip


def _egress_rule(config: Config) -> list[str]:
    return [
        "POSTROUTING", "-s", config.pod_cidr, "!", "-d", config.pod_cidr, "-j", "MASQUERADE",
        "-m", "comment", "--comment", "bodywork-testcluster-egress",
    ]  # fmt: skip


def host_up(config: Config) -> dict[str, str]:
    """Create the bridge and the Service chain; returns settings to restore at ``down``."""
    saved = {"ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()}
    if run("ip", "link", "show", config.bridge, check=False).returncode != 0:
        run("ip", "link", "add", config.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{config.bridge_ip}/{_prefixlen(config)}", "dev", config.bridge)
    run("ip", "link", "set", config.bridge, "up")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    chain = config.iptables_chain
    run("iptables", "-w", "-t", "nat", "-N", chain, check=False)
    for hook in ("PREROUTING", "OUTPUT"):
        if run("iptables", "-w", "-t", "nat", "-C", hook, "-j", chain, check=False).returncode:
            run("iptables", "-w", "-t", "nat", "-I", hook, "-j", chain)
    rule = _masquerade_rule(config)
    if run("iptables", "-w", "-t", "nat", "-C", *rule, check=False).returncode:
        run("iptables", "-w", "-t", "nat", "-A", *rule)
    egress = _egress_rule(config)
    if config.egress and run("iptables", "-w", "-t", "nat", "-C", *egress, check=False).returncode:
        run("iptables", "-w", "-t", "nat", "-A", *egress)
    return saved


def host_down(config: Config, saved: dict[str, str] | None = None) -> None:
    """Remove every namespace, veth, rule and the bridge the cluster made (idempotent)."""
    for name in list_netns(config):
        delete_sandbox(config, name)
    chain = config.iptables_chain
    for hook in ("PREROUTING", "OUTPUT"):
        while run("iptables", "-w", "-t", "nat", "-D", hook, "-j", chain, check=False).returncode == 0:
            pass
    run("iptables", "-w", "-t", "nat", "-F", chain, check=False)
    run("iptables", "-w", "-t", "nat", "-X", chain, check=False)
    for rule in (_masquerade_rule(config), _egress_rule(config)):
        while run("iptables", "-w", "-t", "nat", "-D", *rule, check=False).returncode == 0:
            pass
    run("ip", "link", "del", config.bridge, check=False)
    if saved and "ip_forward" in saved:
        Path("/proc/sys/net/ipv4/ip_forward").write_text(saved["ip_forward"] + "\n")


def list_netns(config: Config) -> list[str]:
    out = run("ip", "netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(config.netns_prefix)]


def netns_name(config: Config, pod_uid: str) -> str:
    return config.netns_prefix + pod_uid.replace("-", "")[:12]


def veth_name(config: Config, pod_uid: str) -> str:
    return config.veth_prefix + pod_uid.replace("-", "")[:12]


def create_sandbox(config: Config, pod_uid: str, ip: str) -> str:
    """A network namespace with ``ip`` on eth0, wired to the bridge; returns its name."""
    ns = netns_name(config, pod_uid)
    veth = veth_name(config, pod_uid)
    delete_sandbox(config, ns)
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "link", "set", veth, "master", config.bridge)
    # hairpin: a pod may reach itself through its own Service's ClusterIP
    run("ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
    run("ip", "link", "set", veth, "up")
    run("ip", "-n", ns, "addr", "add", f"{ip}/{_prefixlen(config)}", "dev", "eth0")
    run("ip", "-n", ns, "link", "set", "eth0", "up")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "-n", ns, "route", "add", "default", "via", config.bridge_ip)
    (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
    return ns


def delete_sandbox(config: Config, ns: str) -> None:
    """Kill what still runs in ``ns``, then delete it, its veth and its /etc files."""
    pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        run("kill", "-KILL", pid, check=False)
    veth = config.veth_prefix + ns[len(config.netns_prefix) :]
    run("ip", "link", "del", veth, check=False)
    run("ip", "netns", "del", ns, check=False)
    etc = NETNS_ETC / ns
    if etc.exists():
        for child in etc.iterdir():
            child.unlink()
        etc.rmdir()
    try:
        NETNS_ETC.rmdir()  # only if empty: leave the host as it was
    except OSError:
        pass


def write_in_place(path: Path, text: str) -> None:
    """Rewrite a file keeping its inode: it is bind-mounted into running pods."""
    with open(path, "a+") as handle:
        handle.seek(0)
        if handle.read() == text:
            return
        handle.truncate(0)
        handle.write(text)


def write_resolver_files(
    config: Config, ns: str, hosts: str, namespace: str
) -> None:
    etc = NETNS_ETC / ns
    etc.mkdir(parents=True, exist_ok=True)
    write_in_place(etc / "hosts", hosts)
    domain = config.cluster_domain
    servers = ["127.0.0.1"]  # nothing listens there: names outside the cluster fail fast
    if config.egress:
        servers = _host_nameservers() or servers
    lines = [f"search {namespace}.svc.{domain} svc.{domain} {domain}"]
    lines += [f"nameserver {server}" for server in servers]
    lines.append("options ndots:5 timeout:1 attempts:1")
    write_in_place(etc / "resolv.conf", "\n".join(lines) + "\n")


def _host_nameservers() -> list[str]:
    """The host's name servers a pod can reach (not the host's loopback ones)."""
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        return []
    found = [line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")]
    return [server for server in found if not server.startswith("127.")]


@dataclass(frozen=True)
class ServicePort:
    cluster_ip: str
    port: int
    protocol: str
    # (pod ip, target port) of the ready endpoints
    endpoints: tuple[tuple[str, int], ...]
    node_port: int | None = None  # NodePort / LoadBalancer: also on the node's address


def service_rules(config: Config, ports: Iterable[ServicePort]) -> str:
    """iptables-restore input that replaces the Service chain's rules."""
    chain = config.iptables_chain
    lines = ["*nat", f":{chain} - [0:0]", f"-F {chain}"]
    for sp in ports:
        proto = sp.protocol.lower()
        matches = [f"-A {chain} -d {sp.cluster_ip}/32 -p {proto} -m {proto} --dport {sp.port}"]
        if sp.node_port:
            matches.append(
                f"-A {chain} -d {config.bridge_ip}/32 -p {proto} -m {proto} --dport {sp.node_port}"
            )
        if not sp.endpoints:
            continue  # no ready pod: the connection times out, as with kube-proxy's nft mode
        count = len(sp.endpoints)
        for match in matches:
            for index, (ip, port) in enumerate(sp.endpoints):
                remaining = count - index
                prob = ""
                if remaining > 1:
                    prob = f" -m statistic --mode random --probability {1 / remaining:.5f}"
                lines.append(f"{match}{prob} -j DNAT --to-destination {ip}:{port}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def apply_service_rules(config: Config, ports: Sequence[ServicePort]) -> None:
    subprocess.run(
        ["iptables-restore", "-w", "--noflush"],
        input=service_rules(config, ports),
        text=True,
        check=True,
        capture_output=True,
    )
