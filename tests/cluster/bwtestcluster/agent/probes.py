"""Readiness, liveness and startup probes: http, tcp and exec, as the kubelet runs them."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence

from kubernetes import client


def _port(value: int | str, container: client.V1Container) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    for port in container.ports or []:
        if port.name == value:
            return int(port.container_port)
    raise ValueError(f"named port {value!r} not found in container {container.name!r}")


def check(
    probe: client.V1Probe,
    container: client.V1Container,
    pod_ip: str,
    netns: str,
    env: Mapping[str, str],
    pid: int | None = None,
) -> bool:
    """Run one probe once: True on success."""
    timeout = float(probe.timeout_seconds or 1)
    try:
        if probe.http_get is not None:
            action = probe.http_get
            host = action.host or pod_ip
            port = _port(action.port, container)
            if (action.scheme or "HTTP").upper() == "HTTPS":
                context = ssl._create_unverified_context()  # the kubelet does not verify either
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=context
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {h.name: h.value for h in action.http_headers or []}
            headers.setdefault("User-Agent", "kube-probe/bodywork-testcluster")
            conn.request("GET", action.path or "/", headers=headers)
            status = conn.getresponse().status
            conn.close()
            return 200 <= status < 400
        if probe.tcp_socket is not None:
            port = _port(probe.tcp_socket.port, container)
            with socket.create_connection((probe.tcp_socket.host or pod_ip, port), timeout=timeout):
                return True
        exec_action = getattr(probe, "_exec", None)  # ``exec`` in the API, ``_exec`` here
        if exec_action is not None:
            argv: Sequence[str] = exec_action.command or []
            # inside the container's namespaces (its mounts too) when it runs
            where = ["ip", "netns", "exec", netns]
            if pid:
                where = ["nsenter", "--target", str(pid), "--mount", "--uts", "--net", "--"]
            result = subprocess.run(
                [*where, *argv],
                env=dict(env),
                capture_output=True,
                timeout=timeout,
            )
            return result.returncode == 0
        if probe.grpc is not None:
            port = probe.grpc.port
            with socket.create_connection((pod_ip, port), timeout=timeout):
                return True  # a listening port stands in for the gRPC health service
    except (OSError, http.client.HTTPException, subprocess.TimeoutExpired, ValueError):
        return False
    return True


class ProbeState:
    """Thresholds and timing of one probe of one container run."""

    def __init__(self, probe: client.V1Probe, started: float) -> None:
        self.probe = probe
        self.next_at = started + float(probe.initial_delay_seconds or 0)
        self.successes = 0
        self.failures = 0
        self.result: bool | None = None  # None until a threshold is crossed

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, now: float) -> None:
        self.next_at = now + float(self.probe.period_seconds or 10)
        if ok:
            self.successes += 1
            self.failures = 0
            if self.successes >= (self.probe.success_threshold or 1):
                self.result = True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= (self.probe.failure_threshold or 3):
                self.result = False


def monotonic() -> float:
    return time.monotonic()
