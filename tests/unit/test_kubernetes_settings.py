"""A namespace's settings (configure-cluster): parsed, changed, and what stage pods get."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import DEFAULT_IMAGE, Plan, plan_pipeline
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes.settings import (
    SETTINGS_KEY,
    ClusterSettings,
    claim,
    options_for,
    parse_settings,
    settings_config_map,
    sharing_notes,
    with_image,
)
from bodywork_runner.spec import Source
from tests.conftest import ProjectWriter

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40)
RUN_ID = "20260101-120000-abc123"


def _iris() -> Plan:
    return plan_pipeline(load_pipeline(ROOT / "examples" / "iris"), SOURCE)


def _pod(settings: ClusterSettings) -> Any:
    plan = _iris()
    options = options_for("ml", settings)
    job = k8s.job(plan, plan.stages["train"], options=options, run_id=RUN_ID, attempt=1)
    return job["spec"]["template"]["spec"]


def _env(pod: Any) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


def test_settings_round_trip_through_their_config_map() -> None:
    settings = ClusterSettings(
        data_claim="bodywork-data", image="registry.local/stage:1", image_pull_secrets=("r",)
    )
    cm = settings_config_map("ml", settings)
    assert cm["metadata"] == {
        "name": "bodywork-settings",
        "namespace": "ml",
        "labels": cm["metadata"]["labels"],
    }
    assert parse_settings(cm["data"], "here") == settings
    assert parse_settings(None, "here") == ClusterSettings()


def test_a_broken_settings_config_map_is_named_with_the_fix() -> None:
    where = "ConfigMap ml/bodywork-settings"
    with pytest.raises(BadInputError, match=f"{where}: .*configure-cluster"):
        parse_settings({SETTINGS_KEY: json.dumps({"data_claim": "Not A Name"})}, where)
    with pytest.raises(BadInputError, match="not valid"):
        parse_settings({SETTINGS_KEY: "{"}, "x")


def test_changes_keep_what_is_not_given_and_clear_what_is_empty() -> None:
    settings = ClusterSettings(data_claim="d", cache_claim="c", image_pull_secrets=("a",))
    changed = settings.changed(data_claim=None, cache_claim="", image_pull_secrets=())
    assert changed == ClusterSettings(data_claim="d")
    assert settings.changed(image="x").shown() == [
        "data_claim: d",
        "cache_claim: c",
        "image: x",
        "image_pull_secrets: a",
    ]


def test_without_claims_each_pod_has_its_own_data_folder() -> None:
    pod = _pod(ClusterSettings())
    env = _env(pod)
    assert env["BODYWORK_DATA_DIR"] == "/bodywork/work/data"
    assert env["BODYWORK_CACHE_DIR"] == k8s.CACHE_DIR
    assert "UV_CACHE_DIR" not in env
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])


def test_claims_are_mounted_the_data_one_per_deployment() -> None:
    pod = _pod(ClusterSettings(data_claim="bodywork-data", cache_claim="bodywork-cache"))
    env = _env(pod)
    assert env["BODYWORK_DATA_DIR"] == "/bodywork/data"
    assert env["BODYWORK_CACHE_DIR"] == "/bodywork/cache/envs"
    assert env["UV_CACHE_DIR"] == "/bodywork/cache/uv"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "bodywork-data"}
    assert volumes["cache"]["persistentVolumeClaim"] == {"claimName": "bodywork-cache"}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["data"] == {"name": "data", "mountPath": "/bodywork/data", "subPath": "iris"}
    assert mounts["cache"] == {"name": "cache", "mountPath": "/bodywork/cache"}
    # still the restricted profile: no hostPath, a read-only root
    assert not any("hostPath" in v for v in pod["volumes"])
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_claim_is_read_write_many() -> None:
    made = claim("ml", "bodywork-data", "data")
    assert made["spec"]["accessModes"] == ["ReadWriteMany"]
    assert made["metadata"]["labels"]["app.kubernetes.io/component"] == "data"


def test_the_namespace_image_replaces_only_the_default() -> None:
    plan = _iris()
    data = plan.model_dump(mode="json")
    data["stages"]["report"]["image"] = "mine:1"
    plan = type(plan).model_validate(data)
    swapped = with_image(plan, ClusterSettings(image="registry.local/stage:2"), DEFAULT_IMAGE)
    images = {name: s.image for name, s in swapped.stages.items()}
    assert images == {
        "prepare": "registry.local/stage:2",
        "train": "registry.local/stage:2",
        "predict": "registry.local/stage:2",
        "report": "mine:1",
    }
    assert with_image(plan, ClusterSettings(), DEFAULT_IMAGE) is plan


def test_a_deploy_without_a_data_claim_is_told_its_stages_share_nothing() -> None:
    plan = _iris()
    (note,) = sharing_notes(plan, ClusterSettings(), "iris")
    assert "do not share BODYWORK_DATA_DIR" in note
    assert "--data-volume pvc:bodywork-data" in note
    assert sharing_notes(plan, ClusterSettings(data_claim="d"), "iris") == []


PULLING = """\
version: "2.0"
pipeline:
  name: pulling
  schedule: "0 3 * * *"
  image_pull_secrets: [regcred, mirror]
stages:
  train:
    path: train.py
  serve:
    path: serve.py
    depends_on: [train]
    service: {port: 8000}
"""


def _pull_secrets(pod: dict[str, Any]) -> list[str]:
    return [ref["name"] for ref in pod.get("imagePullSecrets", [])]


def test_pods_pull_with_the_namespaces_then_the_pipelines_then_the_deploys_secrets(
    project: ProjectWriter,
) -> None:
    pipeline = load_pipeline(project(PULLING, "train.py", "serve.py"))
    assert pipeline.image_pull_secrets == ("regcred", "mirror")
    # --image-pull-secret mirror --image-pull-secret team: mirror is bodywork.yaml's already
    plan = plan_pipeline(pipeline, SOURCE, image_pull_secrets=("mirror", "team"))
    assert plan.image_pull_secrets == ("regcred", "mirror", "team")
    # the controller renders the stage pods from the plan in the run's record
    plan = Plan.model_validate(json.loads(json.dumps(plan.model_dump(mode="json"))))
    settings = ClusterSettings(image_pull_secrets=("ns-cred", "regcred"))
    options = options_for("ml", settings)
    union = ["ns-cred", "regcred", "mirror", "team"]
    job = k8s.job(plan, plan.stages["train"], options=options, run_id=RUN_ID, attempt=1)
    service = k8s.deployment(plan, plan.stages["serve"], run_id=RUN_ID, options=options)
    controller = k8s.controller_job(plan, RUN_ID, options=options, image="ctl:1")
    cron = k8s.cronjob(plan, options=options, image="ctl:1")
    assert cron is not None
    for pod in (
        job["spec"]["template"]["spec"],
        service["spec"]["template"]["spec"],
        controller["spec"]["template"]["spec"],
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ):
        assert _pull_secrets(pod) == union
    # the namespace's alone, as before; none at all: no imagePullSecrets
    bare = plan_pipeline(load_pipeline(ROOT / "examples" / "iris"), SOURCE)
    assert bare.image_pull_secrets == ()
    assert _pull_secrets(_pod(settings)) == ["ns-cred", "regcred"]
    assert "imagePullSecrets" not in _pod(ClusterSettings())
