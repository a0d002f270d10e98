"""A private git repository deployed to the test cluster, its credentials in a Secret.

A real git server on this machine (tests/gitserver.py) serves the project at the test
cluster's bridge address, which both this machine and the pods reach, and answers 401
without the token. The deploying CLI reads bodywork.yaml with ``BODYWORK_GIT_TOKEN`` from
its own environment; the stages get theirs from the Secret that ``bodywork configure-cluster
--git-secret`` names, as secretKeyRefs the runner alone reads. The token is in no output,
no record, no Job or pod spec and no log.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bodywork_helpers import config, shared_folder, write_project
from k8s_helpers import Kube

from tests.gitserver import GitServer

pytestmark = pytest.mark.k8s

#: The address of this machine on the pod network (bwtestcluster.Config.bridge_ip).
BRIDGE_IP = "10.244.0.1"
GIT_SECRET = "git-credentials"
POD_USER = "cluster-bot"  # the Secret's BODYWORK_GIT_USERNAME: the server tells pods by it

Bodywork = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def token() -> str:
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
def server(tmp_path: Path, token: str) -> Iterator[GitServer]:
    with GitServer(tmp_path / "served", token, host=BRIDGE_IP) as served:
        yield served


@pytest.fixture
def shared() -> Iterator[Path]:
    yield from shared_folder("bodywork-k8s-private-")


@pytest.fixture
def private(tmp_path: Path, server: GitServer, shared: Path) -> str:
    """The project, served as ``private.git`` only: its URL. Its stage writes its
    environment to ``shared/env.json`` (a folder the pods see)."""
    folder = tmp_path / "project"
    write_project(
        folder,
        config("name: private", fetch=""),
        {
            "fetch": [
                "import json, os",
                f"open({str(shared / 'env.json')!r}, 'w').write(json.dumps(dict(os.environ)))",
                "print('fetched privately')",
            ]
        },
    )
    shared.chmod(0o777)
    return server.publish(folder, "private")


@pytest.fixture
def bw(k8s_kubeconfig: str, kube: Kube, tmp_path: Path) -> Bodywork:
    """``bodywork ARGS --target kubernetes --namespace <the test's>``; ``env`` adds to its
    environment, which holds no git token and no credential helper of this machine's."""
    base = {**os.environ, "KUBECONFIG": k8s_kubeconfig, "NO_COLOR": "1",
            "BODYWORK_STATE_DIR": str(tmp_path / "state"), "GIT_CONFIG_GLOBAL": os.devnull}  # fmt: skip
    for name in ("BODYWORK_DEBUG", "BODYWORK_GIT_TOKEN", "GIT_ASKPASS", "SSH_ASKPASS"):
        base.pop(name, None)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bodywork_jupyter", *args, "--target", "kubernetes",
             "--namespace", kube.namespace],
            capture_output=True, text=True, env={**base, **(env or {})}, timeout=180,
        )  # fmt: skip

    return run


def ok(result: subprocess.CompletedProcess[str], *values: str) -> str:
    """The output of a command that must succeed and show none of ``values``."""
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    for value in values:
        assert value not in shown, f"the token was shown:\n{shown}"
    return result.stdout


def run_id_of(output: str) -> str:
    return next(
        line.split("(run ")[1].rstrip(")") for line in output.splitlines() if "(run " in line
    )


def test_a_private_repository_deploys_with_a_git_secret_that_only_the_runner_reads(
    bw: Bodywork, kube: Kube, server: GitServer, private: str, shared: Path, token: str
) -> None:
    encoded = base64.b64encode(token.encode()).decode()
    ok(bw("configure-cluster"))
    ok(
        bw("secret", "create", GIT_SECRET, "--from-env", "BODYWORK_GIT_TOKEN",
           f"BODYWORK_GIT_USERNAME={POD_USER}", env={"BODYWORK_GIT_TOKEN": token}),
        token,
    )  # fmt: skip
    set_up = ok(bw("configure-cluster", "--git-secret", GIT_SECRET), token)
    assert GIT_SECRET in set_up

    deployed = ok(bw("deploy", private, env={"BODYWORK_GIT_TOKEN": token}), token)
    run_id = run_id_of(deployed)
    assert f"run {run_id} succeeded" in deployed

    # both ends fetched with credentials: this machine with its own variable (the runner's
    # default user name), a pod with the Secret's
    let_in = server.let_in()
    assert {r.client for r in let_in if r.user == "x-access-token"} == {BRIDGE_IP}
    from_pods = {r.client for r in let_in if r.user == POD_USER}
    assert from_pods and BRIDGE_IP not in from_pods, server.requests
    assert server.refused()  # and the server did ask for them
    stage_env = json.loads((shared / "env.json").read_text())
    assert "BODYWORK_GIT_TOKEN" not in stage_env
    assert not [k for k, v in stage_env.items() if token in v], "the stage saw the token"

    outputs = [
        ok(bw("logs", run_id), token),
        ok(bw("logs", run_id, "fetch"), token),
        ok(bw("get", "runs"), token),
        ok(bw("get", "runs", "private"), token),
        ok(bw("get", "deployments"), token),
    ]
    assert "fetched privately" in outputs[1]

    # nothing in the namespace holds it but its Secret: no record (every ConfigMap), no
    # Job or pod spec (a secretKeyRef, not the value), no pod's log
    ns = kube.namespace
    objects = {
        **{f"ConfigMap/{o.metadata.name}": o for o in kube.core.list_namespaced_config_map(ns).items},
        **{f"Job/{o.metadata.name}": o for o in kube.batch.list_namespaced_job(ns).items},
        **{f"Pod/{o.metadata.name}": o for o in kube.core.list_namespaced_pod(ns).items},
    }  # fmt: skip
    assert any(k.startswith("ConfigMap/") for k in objects) and any("Job/" in k for k in objects)
    for kind_name, obj in objects.items():
        text = json.dumps(kube.api.sanitize_for_serialization(obj))
        assert token not in text and encoded not in text, f"{kind_name} holds the token"
    stage_pods = kube.pods("bodywork.dev/stage")
    assert stage_pods
    for pod in stage_pods:
        (variable,) = [
            e for c in pod.spec.containers for e in c.env or [] if e.name == "BODYWORK_GIT_TOKEN"
        ]
        assert variable.value is None
        ref = variable.value_from.secret_key_ref
        assert (ref.name, ref.key, ref.optional) == (GIT_SECRET, "BODYWORK_GIT_TOKEN", True)
    for pod in kube.core.list_namespaced_pod(ns).items:
        for container in pod.spec.containers:
            log = kube.logs(pod.metadata.name, container=container.name)
            assert token not in log, f"the log of {pod.metadata.name} holds the token"


def test_without_credentials_a_deploy_fails_saying_what_to_set(
    bw: Bodywork, server: GitServer, private: str, shared: Path, token: str
) -> None:
    ok(bw("configure-cluster"))

    # the deploying user has no token: refused before anything is made
    no_token = bw("deploy", private)
    assert no_token.returncode == 3, no_token.stdout + no_token.stderr
    assert f"cannot reach the git repository {private}" in no_token.stderr
    assert "set BODYWORK_GIT_TOKEN to a token that may read it" in no_token.stderr
    assert "Traceback" not in no_token.stderr

    # the deploying user has one, the namespace names no git secret: the stage cannot fetch
    no_secret = bw("deploy", private, env={"BODYWORK_GIT_TOKEN": token})
    shown = no_secret.stdout + no_secret.stderr
    assert no_secret.returncode == 1, shown
    assert f"could not fetch the code from {private}" in no_secret.stderr
    assert "the runner got none: give it BODYWORK_GIT_TOKEN" in no_secret.stderr
    assert "bodywork configure-cluster --git-secret NAME" in no_secret.stderr
    assert token not in shown and "Traceback" not in shown
    assert not (shared / "env.json").exists()  # the stage never ran
    assert not [r for r in server.let_in() if r.client != BRIDGE_IP]
