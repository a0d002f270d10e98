"""The test cluster's API: namespaces, Jobs and logs, Secrets, RBAC, watches."""

from __future__ import annotations

import base64
import sys
import threading
from pathlib import Path

import pytest
from k8s_helpers import Kube, job, set_image_entrypoint, unset_image_entrypoint, wait_for
from kubernetes import client, watch


def test_node_is_ready(kube: Kube) -> None:
    nodes = kube.core.list_node().items
    assert len(nodes) == 1
    ready = [c for c in nodes[0].status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True"
    assert nodes[0].status.node_info.kubelet_version.startswith("v1.")


def test_namespace_create_and_duplicate_is_409(kube: Kube) -> None:
    name = f"{kube.namespace}-dup"
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    created = kube.core.create_namespace(body)
    try:
        assert created.status.phase == "Active"
        with pytest.raises(client.ApiException) as info:
            kube.core.create_namespace(body)
        assert info.value.status == 409
    finally:
        kube.core.delete_namespace(name)


def test_job_runs_a_real_process_and_its_logs_come_back(kube: Kube, tmp_path) -> None:
    marker = tmp_path / "ran"
    code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('yes'); print('sum', sum(range(10)))"
    kube.batch.create_namespaced_job(kube.namespace, job("compute", [sys.executable, "-c", code]))
    finished = kube.wait_job("compute")
    assert finished.status.succeeded == 1
    assert marker.read_text() == "yes"  # the process ran on this machine
    (pod,) = kube.pods("job-name=compute")
    assert pod.status.phase == "Succeeded"
    state = pod.status.container_statuses[0].state.terminated
    assert state.exit_code == 0 and state.reason == "Completed"
    assert kube.logs(pod.metadata.name) == "sum 45\n"


def test_failing_job_is_retried_up_to_its_backoff_limit(kube: Kube) -> None:
    command = ["sh", "-c", "echo attempt; exit 3"]
    kube.batch.create_namespaced_job(kube.namespace, job("fails", command, backoff_limit=1))
    finished = kube.wait_job("fails", timeout=90)
    failed = [c for c in finished.status.conditions if c.type == "Failed"]
    assert failed[0].reason == "BackoffLimitExceeded"
    pods = kube.pods("job-name=fails")
    assert len(pods) == 2  # the first try and one retry
    for pod in pods:
        assert pod.status.phase == "Failed"
        assert pod.status.container_statuses[0].state.terminated.exit_code == 3


def test_logs_follow_streams_until_the_container_exits(kube: Kube) -> None:
    script = "import time\nfor i in range(4):\n    print('line', i, flush=True); time.sleep(0.5)"
    kube.batch.create_namespaced_job(kube.namespace, job("talk", [sys.executable, "-c", script]))
    pod = wait_for(
        "the pod to run",
        lambda: next((p for p in kube.pods("job-name=talk") if p.status.phase == "Running"), None),
    )
    stream = kube.core.read_namespaced_pod_log(
        pod.metadata.name, kube.namespace, follow=True, _preload_content=False
    )
    text = b"".join(stream.stream()).decode()
    assert text == "line 0\nline 1\nline 2\nline 3\n"
    name = pod.metadata.name
    assert kube.logs(name, tail_lines=1) == "line 3\n"
    assert kube.logs(name, limit_bytes=8) == "line 0\nl"
    stamped = kube.logs(name, timestamps=True).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == text.splitlines()
    assert all(line[:4].isdigit() and line.split(" ", 1)[0].endswith("Z") for line in stamped)


def test_secret_configmap_and_field_refs_become_env(kube: Kube) -> None:
    kube.core.create_namespaced_secret(
        kube.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="creds"),
            data={"password": base64.b64encode(b"s3cr3t").decode()},
        ),
    )
    kube.core.create_namespaced_config_map(
        kube.namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "fast"}),
    )
    source = client.V1EnvVarSource
    env = [
        client.V1EnvVar(
            name="PASSWORD",
            value_from=source(
                secret_key_ref=client.V1SecretKeySelector(name="creds", key="password")
            ),
        ),
        client.V1EnvVar(
            name="MODE",
            value_from=source(
                config_map_key_ref=client.V1ConfigMapKeySelector(name="settings", key="mode")
            ),
        ),
        client.V1EnvVar(
            name="NS",
            value_from=source(
                field_ref=client.V1ObjectFieldSelector(field_path="metadata.namespace")
            ),
        ),
        client.V1EnvVar(name="GREETING", value="mode=$(MODE)"),
    ]
    command = ["sh", "-c", 'echo "$PASSWORD|$MODE|$NS|$GREETING"']
    kube.batch.create_namespaced_job(kube.namespace, job("env", command, env=env))
    assert kube.wait_job("env").status.succeeded == 1
    (pod,) = kube.pods("job-name=env")
    assert kube.logs(pod.metadata.name) == f"s3cr3t|fast|{kube.namespace}|mode=fast\n"


def test_service_account_limited_by_a_role_gets_403_outside_it(kube: Kube) -> None:
    ns = kube.namespace
    kube.core.create_namespaced_service_account(
        ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    kube.rbac.create_namespaced_role(
        ns,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
        ),
    )
    kube.rbac.create_namespaced_role_binding(
        ns,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="reader-reads-pods"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=ns)],
        ),
    )
    token = kube.core.create_namespaced_service_account_token(
        "reader",
        ns,
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    ).status.token
    conf = client.Configuration()
    conf.host = kube.api.configuration.host
    conf.ssl_ca_cert = kube.api.configuration.ssl_ca_cert
    conf.api_key = {"authorization": f"Bearer {token}"}
    limited = client.CoreV1Api(client.ApiClient(conf))
    assert limited.list_namespaced_pod(ns).items == []
    for forbidden in (
        lambda: limited.list_namespaced_secret(ns),
        lambda: limited.list_namespaced_pod("default"),
        lambda: limited.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))
        ),
    ):
        with pytest.raises(client.ApiException) as info:
            forbidden()
        assert info.value.status == 403


def test_watch_delivers_added_modified_deleted(kube: Kube) -> None:
    ns = kube.namespace
    # watch from this version on: no change can slip in before the watch opens
    version = kube.core.list_namespaced_config_map(ns).metadata.resource_version
    events: list[tuple[str, str]] = []

    def collect() -> None:
        w = watch.Watch()
        stream = w.stream(
            kube.core.list_namespaced_config_map, ns, resource_version=version, timeout_seconds=30
        )
        for event in stream:
            if event["object"].metadata.name != "watched":
                continue
            events.append((event["type"], (event["object"].data or {}).get("v", "")))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"v": "1"})
    kube.core.create_namespaced_config_map(ns, body)
    kube.core.patch_namespaced_config_map("watched", ns, {"data": {"v": "2"}})
    kube.core.delete_namespaced_config_map("watched", ns)
    thread.join(timeout=30)
    assert events == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_init_containers_run_first_and_the_pod_has_its_own_hostname(kube: Kube, tmp_path) -> None:
    order = tmp_path / "order"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="ordered"),
        spec=client.V1PodSpec(
            restart_policy="Never",
            init_containers=[
                client.V1Container(
                    name="init", image="busybox", command=["sh", "-c", f"echo init >> {order}"]
                )
            ],
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox",
                    command=["sh", "-c", f"echo main >> {order}; hostname; echo $HOSTNAME; pwd"],
                    working_dir=str(tmp_path),
                )
            ],
        ),
    )
    kube.core.create_namespaced_pod(kube.namespace, pod)
    done = wait_for(
        "the pod to succeed",
        lambda: (
            (p := kube.core.read_namespaced_pod("ordered", kube.namespace)).status.phase
            == "Succeeded"
            and p
        ),
    )
    assert order.read_text() == "init\nmain\n"
    assert done.status.init_container_statuses[0].state.terminated.exit_code == 0
    assert kube.logs("ordered", container="main") == f"ordered\nordered\n{tmp_path}\n"
    assert kube.logs("ordered", container="init") == ""


def test_on_failure_restarts_in_place_and_previous_logs_are_kept(kube: Kube, tmp_path) -> None:
    count = tmp_path / "count"
    script = (
        f"import pathlib; p = pathlib.Path({str(count)!r}); n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1)); print('run', n, flush=True); raise SystemExit(0 if n else 1)\n"
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="flaky"),
        spec=client.V1PodSpec(
            restart_policy="OnFailure",
            containers=[
                client.V1Container(
                    name="main", image="python", command=[sys.executable, "-c", script]
                )
            ],
        ),
    )
    kube.core.create_namespaced_pod(kube.namespace, pod)
    done = wait_for(
        "the pod to succeed on its second run",
        lambda: (
            (p := kube.core.read_namespaced_pod("flaky", kube.namespace)).status.phase
            == "Succeeded"
            and p
        ),
    )
    status = done.status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 1
    assert kube.logs("flaky") == "run 1\n"
    assert kube.logs("flaky", previous=True) == "run 0\n"


def test_an_image_can_be_given_an_entrypoint(kube: Kube) -> None:
    """Images are not pulled: kube-system/testcluster-images says what an image runs."""
    image = f"example.invalid/{kube.namespace}/stage"
    set_image_entrypoint(
        kube.api, image, ["sh", "-c"], ["echo from-image-cmd"], env={"FROM_IMAGE": "yes"}
    )
    try:
        for job_name, args in (("image-cmd", None), ("image-args", ['echo "$FROM_IMAGE" args'])):
            body = job(job_name, [])
            container = body.spec.template.spec.containers[0]
            container.image, container.command, container.args = f"{image}:1.0", None, args
            kube.batch.create_namespaced_job(kube.namespace, body)
        for name_, expected in (("image-cmd", "from-image-cmd\n"), ("image-args", "yes args\n")):
            assert kube.wait_job(name_).status.succeeded == 1
            (pod,) = kube.pods(f"job-name={name_}")
            assert kube.logs(pod.metadata.name) == expected
    finally:
        unset_image_entrypoint(kube.api, image)


def test_a_pod_uses_the_api_with_its_service_account_token(kube: Kube) -> None:
    """The service-account volume is mounted, and 10.96.0.1:443 reaches the API server."""
    ns = kube.namespace
    kube.rbac.create_namespaced_role_binding(
        ns,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="default-views"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="default", namespace=ns)],
        ),
    )
    code = (
        "from kubernetes import client, config\n"
        "config.load_incluster_config()\n"
        "api = client.CoreV1Api()\n"
        f"print(sorted(p.metadata.name for p in api.list_namespaced_pod({ns!r}).items))\n"
        "try:\n"
        "    api.list_namespaced_secret('default')\n"
        "except client.ApiException as exc:\n"
        "    print(exc.status)\n"
    )
    kube.batch.create_namespaced_job(ns, job("in-cluster", [sys.executable, "-c", code]))
    finished = kube.wait_job("in-cluster")
    (pod,) = kube.pods("job-name=in-cluster")
    logs = kube.logs(pod.metadata.name)
    assert finished.status.succeeded == 1, logs
    assert logs == f"[{pod.metadata.name!r}]\n403\n"


def test_configmap_secret_and_emptydir_volumes_are_mounted(kube: Kube) -> None:
    ns = kube.namespace
    kube.core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="files"), data={"a.txt": "alpha"}),
    )
    kube.core.create_namespaced_secret(
        ns,
        client.V1Secret(metadata=client.V1ObjectMeta(name="keys"), string_data={"key": "k3y"}),
    )
    root = f"/tmp/bwtc-volumes-{ns}"
    command = [
        "sh",
        "-c",
        f"cat {root}/cm/a.txt {root}/secret/key; echo; echo hi > {root}/scratch/f; "
        f"cat {root}/scratch/f; touch {root}/cm/x 2>/dev/null || echo read-only",
    ]
    body = job("mounts", command)
    spec = body.spec.template.spec
    spec.volumes = [
        client.V1Volume(name="cm", config_map=client.V1ConfigMapVolumeSource(name="files")),
        client.V1Volume(name="secret", secret=client.V1SecretVolumeSource(secret_name="keys")),
        client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource()),
    ]
    spec.containers[0].volume_mounts = [
        client.V1VolumeMount(name="cm", mount_path=f"{root}/cm", read_only=True),
        client.V1VolumeMount(name="secret", mount_path=f"{root}/secret", read_only=True),
        client.V1VolumeMount(name="scratch", mount_path=f"{root}/scratch"),
    ]
    kube.batch.create_namespaced_job(ns, body)
    finished = kube.wait_job("mounts")
    (pod,) = kube.pods("job-name=mounts")
    logs = kube.logs(pod.metadata.name)
    assert finished.status.succeeded == 1, logs
    assert logs == "alphak3y\nhi\nread-only\n"
    # the mount points made on this machine go with the pod
    kube.core.delete_namespaced_pod(pod.metadata.name, ns)
    wait_for("the mount points to go", lambda: not Path(root).exists(), timeout=30)
