"""``POST deployments/{name}/call`` and ``GET targets``: what a deploy dialog and a "try it"
box ask the server, against a real deployment and a real kubeconfig file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.engine.helpers import Bodywork
from tests.projects import free_port, git_commit, notebook, write_yaml
from tests.server.conftest import Api
from tests.server.openapi_check import conforms

PREDICT = "def predict(request):\n    return {'sum': sum(request['x'])}"


async def test_a_service_is_called_through_the_server(
    state_dir: Path, tmp_path: Path, api: Api
) -> None:
    folder, port = tmp_path / "calc", free_port()
    notebook(folder / "serve.ipynb", PREDICT)
    write_yaml(
        folder,
        f"""\
        version: "2.0"
        pipeline: {{name: calc}}
        stages:
          serve: {{path: serve.ipynb, service: {{port: {port}}}}}
        """,
    )
    git_commit(folder)
    deployed = Bodywork(state_dir)("deploy", folder, timeout=120)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    reply = await api("POST", "deployments", "calc", "call", body={"body": {"x": [1, 2, 3]}})
    assert reply.status == 200, reply
    answer = reply.json()
    conforms("deployments/{name}/call", "POST", 200, answer)
    assert answer["stage"] == "serve" and answer["status"] == 200
    assert answer["json"] == {"sum": 6} and answer["url"] == f"http://127.0.0.1:{port}"

    # the service's own refusal comes back as its answer, not as an error of ours
    bad = (await api("POST", "deployments", "calc", "call", body={"body": {"x": "ab"}})).json()
    assert bad["status"] == 500 and "TypeError" in bad["text"]
    health = (await api("POST", "deployments", "calc", "call", body={"path": "/healthz"})).json()
    assert health["status"] == 200

    for wrong, says in [
        ({"stage": "nope"}, "serves no stage 'nope'"),
        ({"path": "predict"}, "path"),
        ({"timeout": 0}, "timeout"),
        ({"surprise": 1}, "surprise"),
    ]:
        refused = await api("POST", "deployments", "calc", "call", body=wrong)
        assert refused.status == 400 and says in refused.body.decode(), (wrong, refused)
    missing = await api("POST", "deployments", "nothing", "call", body={})
    assert missing.status == 404, missing


async def test_targets_are_this_machine_and_each_kubeconfig_context(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    alone = (await api("GET", "targets")).json()
    conforms("targets", "GET", 200, alone)
    assert alone["targets"] == [
        {"target": "local", "label": "this machine", "context": None, "namespace": None,
         "current": False},
        {"target": "argo", "label": "Export to Argo Workflows (a YAML file)", "context": None,
         "namespace": None, "current": False},
    ]  # fmt: skip

    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "secret-token-value"}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c", "user": "u"}},
                    {"name": "prod", "context": {"cluster": "c", "user": "u", "namespace": "ml"}},
                ],
                "current-context": "prod",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    reply = await api("GET", "targets")
    found = reply.json()["targets"]
    assert [(t["target"], t["context"], t["namespace"], t["current"]) for t in found] == [
        ("local", None, None, False),
        ("kubernetes", "dev", None, False),
        ("kubernetes", "prod", "ml", True),
        ("argo", None, None, False),  # the export, after every deploy
    ]
    assert found[2]["label"] == "Kubernetes: prod (namespace ml)"
    assert "secret-token-value" not in json.dumps(reply.json())  # nothing of the credentials
