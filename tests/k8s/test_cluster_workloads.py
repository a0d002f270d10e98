"""The test cluster's workloads: Deployments, probes, Services, networking, CronJobs."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from k8s_helpers import Kube, deployment, job, server_container, service, wait_for
from kubernetes import client
from kubernetes.stream import portforward, stream


def _http_probe(path: str = "/healthz", period: int = 1, failures: int = 1) -> client.V1Probe:
    return client.V1Probe(
        http_get=client.V1HTTPGetAction(path=path, port="http"),
        period_seconds=period,
        failure_threshold=failures,
    )


def test_deployment_is_available_only_once_its_readiness_probe_passes(
    kube: Kube, tmp_path: Path
) -> None:
    flag = tmp_path / "ready"
    container = server_container(READY_FILE=str(flag))
    container.readiness_probe = _http_probe()
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("web", container, 2))
    wait_for(
        "2 running pods",
        lambda: [p for p in kube.pods("app=web") if p.status.phase == "Running"][1:],
    )
    time.sleep(3)  # several probe periods: the server runs, but answers 503
    dep = kube.apps.read_namespaced_deployment("web", kube.namespace)
    assert not dep.status.available_replicas
    for pod in kube.pods("app=web"):
        assert pod.status.container_statuses[0].ready is False
    flag.write_text("")
    kube.wait_deployment("web", 2, timeout=30)
    for pod in kube.pods("app=web"):
        ready = [c for c in pod.status.conditions if c.type == "Ready"]
        assert ready[0].status == "True"


def test_rolling_update_replaces_every_pod(kube: Kube) -> None:
    container = server_container(VERSION="v1")
    container.readiness_probe = client.V1Probe(
        tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=1
    )
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("roll", container, 2))
    kube.wait_deployment("roll", 2)
    old = {p.metadata.name for p in kube.pods("app=roll")}
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "VERSION", "value": "v2"}]}
    ]}}}}  # fmt: skip
    kube.apps.patch_namespaced_deployment("roll", kube.namespace, patch)
    kube.wait_deployment("roll", 2, timeout=60)
    wait_for(
        "the old pods to go",
        lambda: not old & {p.metadata.name for p in kube.pods("app=roll")},
        timeout=30,
    )
    sets = kube.apps.list_namespaced_replica_set(kube.namespace, label_selector="app=roll").items
    assert sorted(rs.spec.replicas for rs in sets) == [0, 2]
    for pod in kube.pods("app=roll"):
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env["VERSION"] == "v2"


def test_service_gets_endpoints_and_answers_through_the_apiserver_proxy(kube: Kube) -> None:
    container = server_container()
    container.readiness_probe = _http_probe()
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("api", container, 2))
    kube.core.create_namespaced_service(kube.namespace, service("api", 5000))
    kube.wait_deployment("api", 2)

    def ready_addresses() -> list[str]:
        slices = kube.discovery.list_namespaced_endpoint_slice(
            kube.namespace, label_selector="kubernetes.io/service-name=api"
        ).items
        return [
            address
            for s in slices
            for e in s.endpoints or []
            if e.conditions.ready
            for address in e.addresses
        ]

    addresses = wait_for("2 ready endpoints", lambda: ready_addresses()[1:] and ready_addresses())
    pod_ips = {p.status.pod_ip for p in kube.pods("app=api")}
    assert set(addresses) == pod_ips and len(pod_ips) == 2  # one address per pod
    answers = {
        kube.core.connect_get_namespaced_service_proxy_with_path("api:http", kube.namespace, "")
        for _ in range(12)
    }
    assert {a.split()[0] for a in answers} == {"v1"}
    assert {a.split()[1] for a in answers} <= {p.metadata.name for p in kube.pods("app=api")}
    # and from this machine: the ClusterIP, and (as a NodePort) the node's address
    kube.core.patch_namespaced_service("api", kube.namespace, {"spec": {"type": "NodePort"}})
    svc = kube.core.read_namespaced_service("api", kube.namespace)
    node = kube.core.list_node().items[0]
    node_ip = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    for url in (
        f"http://{svc.spec.cluster_ip}:5000/",
        f"http://{node_ip}:{svc.spec.ports[0].node_port}/",
    ):
        body = wait_for(f"an answer from {url}", lambda u=url: _get(u), timeout=15)
        assert body.startswith("v1 api-")


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def test_a_pod_reaches_another_deployment_by_its_service_name(kube: Kube) -> None:
    backend = server_container(ANSWER="from-backend")
    backend.readiness_probe = _http_probe()
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("backend", backend, 2))
    kube.core.create_namespaced_service(kube.namespace, service("backend", 5000))
    kube.wait_deployment("backend", 2)
    fqdn = f"backend.{kube.namespace}.svc.cluster.local"
    code = (
        "import urllib.request\n"
        f"for url in ('http://backend:5000/', 'http://{fqdn}:5000/'):\n"
        "    print(urllib.request.urlopen(url, timeout=5).read().decode())\n"
    )
    kube.batch.create_namespaced_job(kube.namespace, job("client", [sys.executable, "-c", code]))
    finished = kube.wait_job("client")
    (pod,) = kube.pods("job-name=client")
    logs = kube.logs(pod.metadata.name)
    assert finished.status.succeeded == 1, logs
    lines = logs.splitlines()
    assert len(lines) == 2 and all(line.endswith(" from-backend") for line in lines)


def test_cronjob_triggers_a_job(kube: Kube) -> None:
    template = job("tick", ["sh", "-c", "echo tick"]).spec
    cron = client.V1CronJob(
        metadata=client.V1ObjectMeta(name="tick"),
        spec=client.V1CronJobSpec(
            schedule="* * * * *",
            job_template=client.V1JobTemplateSpec(spec=template),
        ),
    )
    kube.batch.create_namespaced_cron_job(kube.namespace, cron)
    jobs = wait_for(
        "the CronJob to create a Job",
        lambda: kube.batch.list_namespaced_job(kube.namespace).items,
        timeout=100,  # the next minute, and the controller's own delay
    )
    name = jobs[0].metadata.name
    assert name.startswith("tick-")
    assert jobs[0].metadata.owner_references[0].kind == "CronJob"
    kube.wait_job(name)
    (pod,) = kube.pods(f"job-name={name}")
    assert kube.logs(pod.metadata.name) == "tick\n"


def test_liveness_probe_failure_restarts_the_container(kube: Kube, tmp_path: Path) -> None:
    flag = tmp_path / "alive"
    flag.write_text("")
    container = server_container(READY_FILE=str(flag))
    container.liveness_probe = client.V1Probe(
        _exec=client.V1ExecAction(command=["test", "-f", str(flag)]),
        period_seconds=1,
        failure_threshold=2,
    )
    kube.apps.create_namespaced_deployment(kube.namespace, deployment("live", container))
    kube.wait_deployment("live", 1)
    flag.unlink()
    pod = wait_for(
        "a restart",
        lambda: next(
            (p for p in kube.pods("app=live") if p.status.container_statuses[0].restart_count), None
        ),
        timeout=30,
    )
    assert pod.status.container_statuses[0].last_state.terminated is not None


def test_deleting_a_pod_runs_prestop_sends_sigterm_then_removes_it(
    kube: Kube, tmp_path: Path
) -> None:
    record = tmp_path / "term"
    code = (
        "import signal, sys, time, pathlib\n"
        "def stop(*_):\n"
        f"    p = pathlib.Path({str(record)!r}); p.write_text(p.read_text() + 'SIGTERM')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('up', flush=True)\n"
        "while True: time.sleep(0.1)\n"
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="sleeper"),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=10,
            containers=[
                client.V1Container(
                    name="main",
                    image="bodywork-testcluster/python",
                    command=[sys.executable, "-c", code],
                    lifecycle=client.V1Lifecycle(
                        pre_stop=client.V1LifecycleHandler(
                            _exec=client.V1ExecAction(
                                command=["sh", "-c", f"printf 'preStop,' > {record}"]
                            )
                        )
                    ),
                )
            ],
        ),
    )
    kube.core.create_namespaced_pod(kube.namespace, pod)
    wait_for("the pod to print", lambda: kube.logs("sleeper") == "up\n", timeout=30)
    kube.core.delete_namespaced_pod("sleeper", kube.namespace)
    wait_for("the pod to be gone", lambda: not kube.pods(""), timeout=30)
    assert record.read_text() == "preStop,SIGTERM"  # the hook ran before the signal


def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    kube: Kube, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    code = (
        "import os, signal, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "while True: time.sleep(0.1)\n"
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="stubborn"),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=2,
            containers=[
                client.V1Container(
                    name="main", image="python", command=[sys.executable, "-c", code]
                )
            ],
        ),
    )
    kube.core.create_namespaced_pod(kube.namespace, pod)
    pid = int(wait_for("the pid", lambda: pid_file.exists() and pid_file.read_text(), timeout=30))
    assert Path(f"/proc/{pid}").exists()
    started = time.monotonic()
    kube.core.delete_namespaced_pod("stubborn", kube.namespace)
    wait_for("the pod to be gone", lambda: not kube.pods(""), timeout=30)
    assert time.monotonic() - started >= 2  # SIGTERM was ignored for the grace period
    assert not Path(f"/proc/{pid}").exists()  # then SIGKILL


def test_exec_runs_a_command_inside_the_container(kube: Kube) -> None:
    root = f"/tmp/bwtc-exec-{kube.namespace}"
    container = server_container(VERSION="exec")
    container.volume_mounts = [client.V1VolumeMount(name="scratch", mount_path=root)]
    dep = deployment("shell", container)
    dep.spec.template.spec.volumes = [
        client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource())
    ]
    kube.apps.create_namespaced_deployment(kube.namespace, dep)
    kube.wait_deployment("shell", 1)
    (pod,) = kube.pods("app=shell")
    name = pod.metadata.name
    script = f'hostname; echo "$VERSION"; echo hi > {root}/f; cat {root}/f'
    assert _exec(kube, name, ["sh", "-c", script]) == (0, f"{name}\nexec\nhi\n")
    # its hostname, its env, its volume: the file is in the container's emptyDir
    assert not Path(root, "f").exists()
    assert _exec(kube, name, ["sh", "-c", "echo out; exit 3"]) == (3, "out\n")


def _exec(kube: Kube, pod: str, command: list[str]) -> tuple[int | None, str]:
    """Run ``command`` in ``pod`` through the API; its exit code and stdout."""
    client_ = stream(
        kube.core.connect_get_namespaced_pod_exec,
        pod,
        kube.namespace,
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        client_.run_forever(timeout=20)
        return client_.returncode, client_.read_stdout()
    finally:
        client_.close()
        client_.sock.shutdown()  # close() skips the socket once the server closed first


def test_port_forward_reaches_a_pod_port(kube: Kube) -> None:
    kube.apps.create_namespaced_deployment(
        kube.namespace, deployment("fwd", server_container(ANSWER="forwarded"))
    )
    kube.wait_deployment("fwd", 1)
    (pod,) = kube.pods("app=fwd")
    forward = portforward(
        kube.core.connect_get_namespaced_pod_portforward,
        pod.metadata.name,
        kube.namespace,
        ports="8080",
    )
    sock = forward.socket(8080)
    sock.settimeout(10)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    forward.close()
    wait_for("the forward to end", lambda: not forward.connected, timeout=10)
    forward.websocket.shutdown()
    assert data.startswith(b"HTTP/1.0 200")
    assert data.endswith(b" forwarded")
