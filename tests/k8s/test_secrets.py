"""``bodywork secret`` on the test cluster, through the CLI as a user runs it.

Secrets are made, listed, updated and deleted with the ``bodywork`` command (and Bodywork
3's spellings); one then reaches a stage of a real deploy. Every value is a fresh random
string, and no output, log, run record or other object of the namespace may hold it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from bodywork_helpers import config, shared_folder, write_project
from k8s_helpers import Kube
from kubernetes import client

pytestmark = pytest.mark.k8s

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


def secret_value() -> str:
    return f"v-{uuid.uuid4().hex}"


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-secrets-")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """``bodywork ARGS --target kubernetes --namespace <the test's>`` (``namespace=None``:
    none given), as a user runs it; ``env`` adds to its environment."""
    base = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
            "BODYWORK_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    base.pop("BODYWORK_DEBUG", None)

    def run(
        *args: str, namespace: str | None = kube.namespace, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        where = ["--target", "kubernetes", *(["--namespace", namespace] if namespace else [])]
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, *where],
            capture_output=True, text=True, env={**base, **(env or {})}, timeout=150,
        )  # fmt: skip

    return run


@pytest.fixture
def configured(bw: Bodywork) -> Bodywork:
    result = bw("configure-cluster")
    assert result.returncode == 0, result.stderr
    return bw


def ok(result: subprocess.CompletedProcess[str], *values: str) -> str:
    """The output of a command that must succeed and show none of ``values``."""
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    for value in values:
        assert value not in shown, f"a secret value was shown:\n{shown}"
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *values: str) -> str:
    """The error of a command that must exit 2, with no traceback and none of ``values``."""
    shown = result.stdout + result.stderr
    assert result.returncode == 2, shown
    assert "Traceback" not in shown
    for value in values:
        assert value not in shown, f"a secret value was shown:\n{shown}"
    return result.stderr


def stored(kube: Kube, name: str) -> dict[str, str]:
    """The Secret's data as the cluster holds it, decoded."""
    secret = kube.core.read_namespaced_secret(name, kube.namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def rows(listing: str) -> list[list[str]]:
    """A listing's rows, split, without its header."""
    return [line.split() for line in listing.splitlines()[1:]]


# -- 1. create, list, update, delete ----------------------------------------------------------


def test_create_list_update_and_delete_never_show_a_value(
    configured: Bodywork, kube: Kube, tmp_path: Path
) -> None:
    token, api_key, ssh_key, newer, extra, solo = (secret_value() for _ in range(6))
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(f"-----BEGIN-----\n{ssh_key}\n-----END-----\n", encoding="utf-8")
    values = (token, api_key, ssh_key, newer, extra, solo)

    made = ok(
        configured(
            "secret", "create", "creds", f"MY_TOKEN={token}", "--from-env", "API_KEY",
            "--from-file", f"SSH_KEY={key_file}", "--group", "tst", env={"API_KEY": api_key},
        ),
        *values,
    )  # fmt: skip
    assert f"created secret 'creds' of group 'tst' (Secret tst-creds in {kube.namespace})" in made
    assert "keys API_KEY, MY_TOKEN, SSH_KEY" in made
    assert "secrets: {API_KEY: creds} (and the pipeline's secrets_group: tst)" in made
    assert stored(kube, "tst-creds") == {
        "MY_TOKEN": token,
        "API_KEY": api_key,
        "SSH_KEY": key_file.read_text(encoding="utf-8"),
    }
    secret = kube.core.read_namespaced_secret("tst-creds", kube.namespace)
    assert secret.type == "Opaque"
    assert secret.metadata.labels == {
        "app.kubernetes.io/name": "bodywork-jupyter",
        "app.kubernetes.io/managed-by": "bodywork-jupyter",
        "app.kubernetes.io/component": "secret",
        "bodywork.dev/secret-group": "tst",
    }
    ok(configured("secret", "create", "solo", f"ONLY={solo}"), *values)  # no group: "solo"
    assert stored(kube, "solo") == {"ONLY": solo}
    # a Secret made some other way is neither listed nor touched
    kube.core.create_namespaced_secret(
        kube.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="tst-other"), string_data={"K": "v"}),
    )

    listed = ok(configured("secret", "list"), *values)
    assert rows(listed) == [
        ["solo", "-", kube.namespace, "ONLY"],
        ["creds", "tst", kube.namespace, "API_KEY,MY_TOKEN,SSH_KEY"],
    ]
    assert rows(ok(configured("secret", "list", "--group", "tst"), *values)) == [
        ["creds", "tst", kube.namespace, "API_KEY,MY_TOKEN,SSH_KEY"]
    ]
    assert ok(configured("secret", "list", "--group", "none"), *values).strip() == "no secrets"

    updated = ok(
        configured("secret", "update", "creds", f"MY_TOKEN={newer}", f"EXTRA={extra}",
                   "--group", "tst"),
        *values,
    )  # fmt: skip
    assert "keys API_KEY, EXTRA, MY_TOKEN, SSH_KEY" in updated
    assert stored(kube, "tst-creds") == {
        "MY_TOKEN": newer,  # changed
        "EXTRA": extra,  # added
        "API_KEY": api_key,  # kept
        "SSH_KEY": key_file.read_text(encoding="utf-8"),
    }

    not_ours = refused(configured("secret", "delete", "other", "--group", "tst"))
    assert "Secret tst-other" in not_ours and "was not made by 'bodywork secret'" in not_ours
    assert stored(kube, "tst-other") == {"K": "v"}

    deleted = ok(configured("secret", "delete", "creds", "--group", "tst"), *values)
    assert (
        f"deleted secret 'creds' of group 'tst' (Secret tst-creds in {kube.namespace})" in deleted
    )
    names = [s.metadata.name for s in kube.core.list_namespaced_secret(kube.namespace).items]
    assert "tst-creds" not in names and "solo" in names
    assert rows(ok(configured("secret", "list"), *values)) == [
        ["solo", "-", kube.namespace, "ONLY"]
    ]


# -- 2. Bodywork 3's spellings -----------------------------------------------------------------


def test_bodywork_3_spellings(configured: Bodywork, kube: Kube) -> None:
    username, password, newer, first, second = (secret_value() for _ in range(5))
    values = (username, password, newer, first, second)

    ok(
        configured("create", "secret", "pytest-credentials", "--group=test",
                   "--data", f"USERNAME={username}", "--data", f"PASSWORD={password}"),
        *values,
    )  # fmt: skip
    assert stored(kube, "test-pytest-credentials") == {"USERNAME": username, "PASSWORD": password}
    # as Bodywork 3's own hint wrote it: --data K=V K2=V2
    ok(
        configured("create", "secret", "more", "--secrets-group", "test",
                   "--data", f"A={first}", f"B={second}"),
        *values,
    )  # fmt: skip
    assert stored(kube, "test-more") == {"A": first, "B": second}

    assert rows(ok(configured("get", "secrets"), *values)) == [
        ["more", "test", kube.namespace, "A,B"],
        ["pytest-credentials", "test", kube.namespace, "PASSWORD,USERNAME"],
    ]
    one = ok(configured("get", "secret", "pytest-credentials", "--group=test"), *values)
    assert rows(one) == [["pytest-credentials", "test", kube.namespace, "PASSWORD,USERNAME"]]

    ok(
        configured("update", "secret", "pytest-credentials", "--group=test",
                   "--data", f"PASSWORD={newer}"),
        *values,
    )  # fmt: skip
    assert stored(kube, "test-pytest-credentials") == {"USERNAME": username, "PASSWORD": newer}

    ok(configured("delete", "secret", "pytest-credentials", "--group=test"), *values)
    gone = refused(configured("get", "secret", "pytest-credentials", "--group=test"), *values)
    assert "no secret 'pytest-credentials' of group 'test'" in gone


# -- 3. what is refused --------------------------------------------------------------------------


def test_bad_requests_exit_2_saying_what_to_do(
    bw: Bodywork, kube: Kube, k8s_kubeconfig: str, tmp_path: Path
) -> None:
    value = secret_value()

    not_set_up = refused(bw("secret", "create", "db", f"PASSWORD={value}"), value)
    assert f"bodywork configure-cluster --namespace {kube.namespace}" in not_set_up
    assert kube.core.list_namespaced_secret(kube.namespace).items == []

    assert bw("configure-cluster").returncode == 0
    ok(bw("secret", "create", "db", f"PASSWORD={value}"), value)
    again = refused(bw("secret", "create", "db", f"PASSWORD={value}"), value)
    assert "secret 'db' exists already" in again and "bodywork secret update" in again
    missing = refused(bw("secret", "update", "nope", f"PASSWORD={value}"), value)
    assert f"no secret 'nope' in namespace {kube.namespace} (secrets there: db)" in missing
    assert "no secret 'nope'" in refused(bw("secret", "delete", "nope"))
    assert "not a Kubernetes name" in refused(bw("secret", "create", "Bad_Name", "A=b"))
    assert "not a Kubernetes name" in refused(bw("secret", "list", "--group", "Bad Group"))

    # a kubeconfig whose context names no namespace, and no --namespace
    kubeconfig = yaml.safe_load(Path(k8s_kubeconfig).read_text(encoding="utf-8"))
    kubeconfig["contexts"][0]["context"].pop("namespace", None)
    no_namespace = tmp_path / "no-namespace"
    no_namespace.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    which = refused(
        bw("secret", "create", "db", f"PASSWORD={value}", namespace=None,
           env={"KUBECONFIG": str(no_namespace)}),
        value,
    )  # fmt: skip
    assert "which namespace?" in which and "--namespace NS" in which


def test_a_forbidden_request_names_the_missing_permission(
    configured: Bodywork, kube: Kube, k8s_kubeconfig: str, tmp_path: Path
) -> None:
    """Someone who may not touch Secrets: their token in a kubeconfig of their own."""
    kube.core.create_namespaced_service_account(
        kube.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    token = kube.core.create_namespaced_service_account_token(
        "nobody", kube.namespace, client.AuthenticationV1TokenRequest(spec={"audiences": []})
    ).status.token
    kubeconfig = yaml.safe_load(Path(k8s_kubeconfig).read_text(encoding="utf-8"))
    kubeconfig["users"] = [{"name": "nobody", "user": {"token": token}}]
    kubeconfig["contexts"][0]["context"]["user"] = "nobody"
    path = tmp_path / "nobody"
    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    value = secret_value()
    as_nobody = {"KUBECONFIG": str(path)}

    # the namespace check itself is forbidden to this account: the create says what is missing
    create = refused(
        configured("secret", "create", "db", f"A={value}", env=as_nobody), value, token
    )
    assert f"refused to create Secrets in namespace {kube.namespace}" in create
    assert "needs 'create' on 'secrets'" in create
    listing = refused(configured("secret", "list", env=as_nobody), token)
    assert "needs 'list' on 'secrets'" in listing
    assert kube.core.list_namespaced_secret(kube.namespace).items == []


# -- 4. a secret reaches a stage, and nothing else ---------------------------------------------


def test_a_secret_reaches_a_stage_and_no_log_record_or_output(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    value = secret_value()
    encoded = base64.b64encode(value.encode()).decode()
    digest = hashlib.sha256(value.encode()).hexdigest()
    ok(configured("secret", "create", "creds", f"MY_TOKEN={value}", "--group", "tst"), value)
    folder = shared / "sekrit"
    write_project(
        folder,
        config("name: sekrit, secrets_group: tst", check="secrets: {MY_TOKEN: creds}"),
        {
            "check": [  # the notebook holds the value's digest, never the value
                "import hashlib, os",
                "token = os.environ['MY_TOKEN']",
                f"assert hashlib.sha256(token.encode()).hexdigest() == {digest!r}, 'not the token'",
                "print('MY_TOKEN has the right digest')",
            ]
        },
    )

    deployed = ok(configured("deploy", folder.as_uri()), value)
    run_id = next(
        line.split("(run ")[1].rstrip(")") for line in deployed.splitlines() if "(run " in line
    )
    assert f"run {run_id} succeeded" in deployed

    outputs = [
        ok(configured("logs", run_id), value),
        ok(configured("logs", run_id, "check"), value),
        ok(configured("get", "runs"), value),
        ok(configured("get", "runs", "sekrit"), value),
        ok(configured("get", "deployments"), value),
        ok(configured("secret", "list"), value),
    ]
    assert "MY_TOKEN has the right digest" in outputs[1]
    assert any(run_id in out for out in outputs[2:4])

    # nothing in the namespace holds it but its Secret: no record (every ConfigMap), no
    # Job or pod spec (a secretKeyRef, not the value), no pod's log
    ns = kube.namespace
    objects = {
        **{
            f"ConfigMap/{o.metadata.name}": o
            for o in kube.core.list_namespaced_config_map(ns).items
        },
        **{f"Job/{o.metadata.name}": o for o in kube.batch.list_namespaced_job(ns).items},
        **{f"Pod/{o.metadata.name}": o for o in kube.core.list_namespaced_pod(ns).items},
    }
    assert any(k.startswith("ConfigMap/") for k in objects) and any("Job/" in k for k in objects)
    for kind_name, obj in objects.items():
        text = json.dumps(kube.api.sanitize_for_serialization(obj))
        assert value not in text and encoded not in text, f"{kind_name} holds the secret"
    stage_pods = kube.pods("bodywork.dev/stage")
    assert stage_pods
    env = [e for c in stage_pods[0].spec.containers for e in c.env or [] if e.name == "MY_TOKEN"]
    assert env[0].value_from.secret_key_ref.name == "tst-creds"
    for pod in kube.core.list_namespaced_pod(ns).items:
        for container in pod.spec.containers:
            log = kube.logs(pod.metadata.name, container=container.name)
            assert value not in log, f"the log of {pod.metadata.name} holds the secret"


# -- 5. a missing secret refuses the deploy before anything is created --------------------------


def test_a_missing_secret_or_key_refuses_the_deploy_before_anything_is_created(
    configured: Bodywork, kube: Kube, shared: Path
) -> None:
    value = secret_value()
    folder = shared / "missing"
    write_project(
        folder,
        config(
            "name: missing, secrets_group: tst",
            check="secrets: {MY_TOKEN: creds, OTHER: {secret: creds, key: API_KEY}}",
        ),
        {"check": ["print('never runs')"]},
    )
    ns = kube.namespace
    leases = client.CoordinationV1Api(kube.api)

    def objects() -> set[str]:
        """Every object a deploy could make in the namespace (configure-cluster's stay)."""
        return {
            *(f"ConfigMap/{o.metadata.name}" for o in kube.core.list_namespaced_config_map(ns).items),
            *(f"Job/{o.metadata.name}" for o in kube.batch.list_namespaced_job(ns).items),
            *(f"CronJob/{o.metadata.name}" for o in kube.batch.list_namespaced_cron_job(ns).items),
            *(f"Pod/{o.metadata.name}" for o in kube.core.list_namespaced_pod(ns).items),
            *(f"Lease/{o.metadata.name}" for o in leases.list_namespaced_lease(ns).items),
        }  # fmt: skip

    before = objects()
    no_secret = refused(configured("deploy", folder.as_uri()))
    assert "nothing was deployed: --target kubernetes" in no_secret
    assert (
        "secret 'creds' of group 'tst', keys MY_TOKEN, API_KEY (read by stage 'check' as "
        f"MY_TOKEN, OTHER): there is no such secret in namespace {ns} - create it: bodywork "
        "secret create creds MY_TOKEN=VALUE API_KEY=VALUE --group tst --target kubernetes "
        f"--namespace {ns}"
    ) in no_secret
    assert objects() == before

    # the Secret is there (made any way: the kubelet reads any), but without one key
    kube.core.create_namespaced_secret(
        ns,
        client.V1Secret(metadata=client.V1ObjectMeta(name="tst-creds"),
                        string_data={"MY_TOKEN": value}),
    )  # fmt: skip
    before = objects()
    no_key = refused(configured("deploy", folder.as_uri()), value)
    assert (
        "secret 'creds' of group 'tst', key API_KEY (read by stage 'check' as OTHER): the "
        "secret has only keys MY_TOKEN - add it: bodywork secret update creds API_KEY=VALUE "
        f"--group tst --target kubernetes --namespace {ns}"
    ) in no_key
    assert objects() == before
    assert "missing" not in ok(configured("get", "runs"))  # no run was recorded
