"""Plan -> Kubernetes objects: golden files for the examples, and the rules they follow."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.pipeline.model import Resources
from bodywork_jupyter.plan import (
    Placement,
    Plan,
    PlannedSecret,
    PlannedSource,
    plan_pipeline,
    runner_spec,
)
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.kubernetes import KubernetesOptions, OwnerReference, k8s_object_name
from bodywork_runner import cli as runner_cli
from bodywork_runner.spec import Source, StageSpec
from tests.conftest import ProjectWriter
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
RUN_ID = "20260101-120000-abc123"
VERSION = "0.1.0"  # fixed, so a version bump does not rewrite the golden files
CONTROLLER_IMAGE = "ghcr.io/bodywork-jupyter/stage-runner:0.1"

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

RICH = """\
version: "2.0"
pipeline:
  name: churn
  secrets_group: prod
  schedule: "0 3 * * *"
stages:
  ingest:
    path: ingest.py
    env: {MODE: full}
    secrets:
      AWS_ACCESS_KEY_ID: aws-credentials
      TOKEN: {secret: api-tokens, key: ingest-token}
    resources: {cpu_request: 0.25, cpu_limit: 2, memory_request_mb: 512, memory_limit_mb: 1024, gpu: 1}
    timeout: 90s
  serve:
    path: serve.ipynb
    depends_on: [ingest]
    image: registry.example.com/serve:1
    service: {port: 8080, replicas: 3, ingress: true, readiness_path: /ready}
"""


def _plan(example: str) -> Plan:
    return plan_pipeline(load_pipeline(EXAMPLES / example), SOURCE)


def _options(plan: Plan, **extra: Any) -> KubernetesOptions:
    # the namespace a target would choose: the pipeline's, else its name (as Bodywork did)
    return KubernetesOptions(namespace=plan.namespace or plan.k8s_name, version=VERSION, **extra)


def _rich(project: ProjectWriter) -> Plan:
    return plan_pipeline(load_pipeline(project(RICH, "ingest.py", "serve.ipynb")), SOURCE)


def _iris_variant() -> Plan:
    """iris as it would be with a schedule, an Ingress, a secret and GPUs: the objects the
    example itself does not make, in the golden file for review."""
    data = _plan("iris").model_dump(mode="json")
    data["schedule"] = "0 3 * * *"
    data["stages"]["predict"]["service"]["ingress"] = True
    train = data["stages"]["train"]
    train["env"] = {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    train["secrets"] = {"DB_PASSWORD": {"group": None, "secret": "warehouse", "key": "password"}}
    train["resources"] = {
        "cpu_request": 1.5,
        "cpu_limit": 4,
        "memory_request_mb": 2048,
        "memory_limit_mb": 4096,
        "gpu": 1,
    }
    return Plan.model_validate(data)


def _variant_options(plan: Plan) -> KubernetesOptions:
    return _options(
        plan,
        image_pull_secrets=("registry-credentials",),
        ingress_class="nginx",
        git_credentials_secret="git-credentials",
    )


def _sections(example: str) -> list[tuple[str, list[dict[str, Any]]]]:
    plan = _plan(example)
    options = _options(plan)
    sections = [
        (
            f"bodywork configure-cluster --namespace {options.namespace}",
            k8s.rbac(options.namespace),
        ),
        (
            f"bodywork deploy examples/{example} --target kubernetes: the controller Job of "
            f"run {RUN_ID}",
            [k8s.controller_job(plan, RUN_ID, options=options, image=CONTROLLER_IMAGE)],
        ),
        (
            f"examples/{example}, run {RUN_ID}: first attempt of each batch stage, services",
            k8s.render_plan(plan, run_id=RUN_ID, options=options),
        ),
    ]
    if example == "iris":
        variant = _iris_variant()
        sections.append(
            (
                "iris with schedule '0 3 * * *', predict.service.ingress, a secret, env and "
                "resources on train; options: image pull secret, ingress class nginx, git "
                "credentials Secret",
                k8s.render_plan(variant, run_id=RUN_ID, options=_variant_options(variant)),
            )
        )
    return sections


def _golden_text(example: str) -> str:
    parts = [f"# {title}\n" + k8s.to_yaml(objects) for title, objects in _sections(example)]
    return "---\n".join(parts)


def _all_objects(example: str) -> list[dict[str, Any]]:
    return [obj for _, objects in _sections(example) for obj in objects]


def _is_controller(obj: dict[str, Any]) -> bool:
    return obj["metadata"]["labels"].get("app.kubernetes.io/component") == "controller"


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def _label_sets(obj: dict[str, Any]) -> Iterator[dict[str, str]]:
    yield obj["metadata"].get("labels", {})
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["metadata"]["labels"]
        yield spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    if "template" in spec:
        yield spec["template"]["metadata"]["labels"]
    if "selector" in spec:
        yield spec["selector"].get("matchLabels", spec["selector"])


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def _spec_of(container: dict[str, Any]) -> StageSpec:
    return StageSpec.from_json(_env(container)[k8s.SPEC_ENV]["value"])


# --- golden files -----------------------------------------------------------------------


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_example_manifests_match_golden(example: str) -> None:
    text = _golden_text(example)
    assert_golden(f"k8s-{example}.yaml", text)
    # the file is the objects, nothing lost in the YAML
    assert list(yaml.safe_load_all(text)) == _all_objects(example)
    assert "&id" not in text and "*id" not in text  # no YAML anchors: each object stands alone


def test_the_examples_render_what_they_declare() -> None:
    kinds = [
        obj["kind"]
        for obj in k8s.render_plan(_plan("iris"), run_id=RUN_ID, options=_options(_plan("iris")))
    ]
    assert kinds == ["Job", "Job", "Deployment", "Service", "Job"]  # prepare train predict report
    classic = _plan("bodywork-1.1")
    objects = k8s.render_plan(classic, run_id=RUN_ID, options=_options(classic))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Job", "bodywork-classic-train-model-abc123-1"),
        ("Deployment", "serve-model-abc123"),
        ("Service", "serve-model"),
        ("Job", "bodywork-classic-send-alert-abc123-1"),  # run_on_failure
    ]
    assert {o["metadata"]["namespace"] for o in objects} == {"bodywork-classic"}


# --- names and labels -------------------------------------------------------------------


def test_long_names_are_cut_with_a_stable_hash() -> None:
    long_pipeline = "a-very-long-pipeline-name-that-goes-on-and-on-and-on"
    name = k8s_object_name(long_pipeline, "some-stage-with-a-long-name", "abc123", "1")
    assert len(name) == 63 and DNS_LABEL.fullmatch(name)
    assert re.fullmatch(r".*-[0-9a-f]{8}", name)
    assert name == k8s_object_name(long_pipeline, "some-stage-with-a-long-name", "abc123", "1")
    other = k8s_object_name(long_pipeline, "some-stage-with-a-long-name", "abc123", "2")
    assert other != name and len(other) == 63  # differ only past the cut: the hash keeps them apart
    assert k8s_object_name("iris", "train", "abc123", "1") == "iris-train-abc123-1"
    assert k8s_object_name("Odd_Name", "x.y") == "odd-name-x-y"
    short = k8s_object_name(long_pipeline, "schedule", limit=52)
    assert len(short) <= 52 and DNS_LABEL.fullmatch(short)
    with pytest.raises(BadInputError):
        k8s_object_name("__", "--")
    with pytest.raises(ValueError):
        k8s_object_name("x", limit=5)


@given(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=4), st.integers(10, 253))
def test_every_object_name_is_a_dns_label(parts: list[str], limit: int) -> None:
    try:
        name = k8s_object_name(*parts, limit=limit)
    except BadInputError:
        assert not re.search(r"[a-z0-9]", "-".join(parts).lower())
        return
    assert len(name) <= limit and DNS_LABEL.fullmatch(name)


@given(st.text(max_size=200))
def test_every_label_value_is_valid(value: str) -> None:
    out = k8s.label_value(value)
    assert len(out) <= 63 and LABEL_VALUE.fullmatch(out)
    assert k8s.label_value(value) == out


def test_label_values() -> None:
    assert k8s.label_value("0.1.0+g1234.dirty") == "0.1.0-g1234.dirty"
    assert k8s.label_value("-x-") == "x"
    assert k8s.label_value("") == ""
    long = k8s.label_value("v" * 100)
    assert len(long) == 63 and re.fullmatch(r"v{54}-[0-9a-f]{8}", long)


def test_long_pipeline_and_stage_names_fit(project: ProjectWriter) -> None:
    pipeline = "p" * 60
    stage = "s" * 60
    config = f"""\
version: "2.0"
pipeline: {{name: {pipeline}, schedule: "*/5 * * * *"}}
stages:
  {stage}:
    path: serve.ipynb
    service: {{port: 8080, ingress: true}}
  b:
    path: b.py
"""
    plan = plan_pipeline(load_pipeline(project(config, "serve.ipynb", "b.py")), SOURCE)
    objects = k8s.render_plan(
        plan, run_id="run-with-a-really-long-id-" + "x" * 60, options=_options(plan)
    )
    for obj in objects:
        name = obj["metadata"]["name"]
        limit = 52 if obj["kind"] == "CronJob" else 63
        assert len(name) <= limit and DNS_LABEL.fullmatch(name), name
        for labels in _label_sets(obj):
            assert all(LABEL_VALUE.fullmatch(v) and len(v) <= 63 for v in labels.values())


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_every_object_carries_the_common_labels(example: str) -> None:
    for obj in _all_objects(example):
        for labels in _label_sets(obj):
            for key, value in labels.items():
                assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (key, value)
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "bodywork-jupyter"
        assert labels["app.kubernetes.io/managed-by"] == "bodywork-jupyter"
        if obj["kind"] in {"Namespace", "ServiceAccount", "Role", "RoleBinding"}:
            continue
        assert labels["app.kubernetes.io/part-of"] == _plan(example).k8s_name
        assert labels["app.kubernetes.io/version"] == VERSION
        assert labels["bodywork.dev/commit"] == "0" * 40
        if obj["kind"] in {"Job", "Deployment", "Service"}:
            assert labels["bodywork.dev/run"] == RUN_ID
            if _is_controller(obj):  # one run's controller: of no stage
                assert "bodywork.dev/stage" not in labels
                continue
            assert labels["bodywork.dev/stage"] == labels["app.kubernetes.io/component"]


def test_short_run_ids() -> None:
    assert k8s.short_run_id(RUN_ID) == "abc123"
    assert k8s.short_run_id("r-1") == "r-1"
    hashed = k8s.short_run_id("Some Run Id That Is Long")
    assert re.fullmatch(r"[0-9a-f]{8}", hashed)


# --- secrets ----------------------------------------------------------------------------


def test_secrets_are_references_never_values(
    project: ProjectWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a value in this process's environment must not leak into what is rendered
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-sentinel-value")
    monkeypatch.setenv("TOKEN", "token-sentinel-value")
    plan = _rich(project)
    # the plan itself cannot carry a value: a secret is a group, a name and a key
    assert set(PlannedSecret.model_fields) == {"group", "secret", "key"}
    job = k8s.job(plan, plan.stages["ingest"], run_id=RUN_ID, attempt=1, options=_options(plan))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert env["AWS_ACCESS_KEY_ID"] == {
        "name": "AWS_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "prod-aws-credentials", "key": "AWS_ACCESS_KEY_ID"}},
    }
    assert env["TOKEN"] == {
        "name": "TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "prod-api-tokens", "key": "ingest-token"}},
    }
    assert env["MODE"] == {"name": "MODE", "value": "full"}
    spec = _spec_of(container)
    assert spec.env_from_secrets == ["AWS_ACCESS_KEY_ID", "TOKEN"]
    assert "AWS_ACCESS_KEY_ID" not in spec.env and "TOKEN" not in spec.env
    text = k8s.to_yaml(k8s.render_plan(plan, run_id=RUN_ID, options=_options(plan)))
    assert "sentinel" not in text


def test_git_credentials_come_from_their_secret(project: ProjectWriter) -> None:
    plan = _rich(project)
    options = _options(plan, git_credentials_secret="git-credentials")
    job = k8s.job(plan, plan.stages["ingest"], run_id=RUN_ID, attempt=1, options=options)
    env = _env(job["spec"]["template"]["spec"]["containers"][0])
    for name in k8s.GIT_CREDENTIAL_ENVS:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "git-credentials", "key": name, "optional": True}
    without = k8s.job(plan, plan.stages["ingest"], run_id=RUN_ID, attempt=1, options=_options(plan))
    assert not set(k8s.GIT_CREDENTIAL_ENVS) & set(
        _env(without["spec"]["template"]["spec"]["containers"][0])
    )


def test_env_that_clashes_is_refused(project: ProjectWriter) -> None:
    plan = _rich(project)
    ingest = plan.stages["ingest"]
    clash = ingest.model_copy(update={"env": {"TOKEN": "x"}})
    with pytest.raises(BadInputError, match="both an env variable and a secret"):
        k8s.job(plan, clash, run_id=RUN_ID, attempt=1, options=_options(plan))
    reserved = ingest.model_copy(update={"env": {k8s.SPEC_ENV: "{}"}})
    with pytest.raises(BadInputError, match="the runner's"):
        k8s.job(plan, reserved, run_id=RUN_ID, attempt=1, options=_options(plan))
    git = ingest.model_copy(update={"env": {"BODYWORK_GIT_TOKEN": "t"}})
    options = _options(plan, git_credentials_secret="git-credentials")
    with pytest.raises(BadInputError, match="git credentials"):
        k8s.job(plan, git, run_id=RUN_ID, attempt=1, options=options)
    # the stage may set HOME itself: it wins over the default
    home = ingest.model_copy(update={"env": {"HOME": "/work/home"}})
    job = k8s.job(plan, home, run_id=RUN_ID, attempt=1, options=_options(plan))
    homes = [
        e for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "HOME"
    ]
    assert homes == [{"name": "HOME", "value": "/work/home"}]


# --- resources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "quantity"),
    [
        (0.5, "500m"),
        (0.25, "250m"),
        (0.1, "100m"),
        (1, "1"),
        (2.0, "2"),
        (1.5, "1500m"),
        (0.0001, "1m"),
        (0.3333, "334m"),
    ],
)
def test_cpu_quantities(cores: float, quantity: str) -> None:
    assert k8s.cpu_quantity(cores) == quantity


def test_resources_and_gpus(project: ProjectWriter) -> None:
    assert k8s.resources(Resources()) == {}
    assert k8s.resources(Resources(memory_request_mb=200)) == {"requests": {"memory": "200M"}}
    assert k8s.resources(Resources(gpu=2)) == {"limits": {"nvidia.com/gpu": "2"}}
    plan = _rich(project)
    job = k8s.job(plan, plan.stages["ingest"], run_id=RUN_ID, attempt=1, options=_options(plan))
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "512M"},
        "limits": {"cpu": "2", "memory": "1024M", "nvidia.com/gpu": "1"},
    }


# --- the stage spec ---------------------------------------------------------------------


def _containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in pod["containers"]:
                yield obj, container


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_the_spec_in_env_is_what_the_runner_reads(
    example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(example)
    options = _options(plan)
    by_name = {
        s.name: s
        for s in [*plan.stages.values(), *([plan.run_on_failure] if plan.run_on_failure else [])]
    }
    seen = set()
    for obj, container in _containers(k8s.render_plan(plan, run_id=RUN_ID, options=options)):
        assert container["command"] == ["bodywork-runner"]
        stage = by_name[obj["metadata"]["annotations"]["bodywork.dev/stage"]]
        service = stage.service
        placement = Placement(
            run_id=RUN_ID,
            attempt=1,
            work_dir="/bodywork/work/code",
            artifacts_dir="/bodywork/work/artifacts",
            cache_dir=None,
            listen_host="0.0.0.0" if service else None,
            listen_port=service.port if service else None,
            emit_notebook=stage.kind == "batch",  # the pod's emptyDir goes with it
            service_hosts={s.name: s.k8s_name for s in by_name.values() if s.service},
            # a replica keeps answering while its address leaves the Service's endpoints
            stop_delay_seconds=3.0 if service else 0.0,
        )
        expected = runner_spec(plan, stage, placement)
        assert _spec_of(container) == expected
        # every stage reaches each service by its Service's name, in the namespace
        urls = {k: v for k, v in expected.env.items() if k.startswith("BODYWORK_SERVICE_")}
        assert urls == {
            f"BODYWORK_SERVICE_{s.k8s_name.upper().replace('-', '_')}_URL": (
                f"http://{s.k8s_name}:{s.port}"
            )
            for s in by_name.values()
            if s.service
        }
        # exactly as the runner loads it from its environment
        monkeypatch.setenv(runner_cli.SPEC_ENV, _env(container)[k8s.SPEC_ENV]["value"])
        assert runner_cli.load_spec(None) == expected
        seen.add(stage.name)
    assert seen == set(by_name)


def test_the_spec_carries_the_attempt() -> None:
    plan = _plan("iris")
    job = k8s.job(plan, plan.stages["train"], run_id=RUN_ID, attempt=3, options=_options(plan))
    spec = _spec_of(job["spec"]["template"]["spec"]["containers"][0])
    assert (spec.run_id, spec.attempt) == (RUN_ID, 3)
    assert job["metadata"]["name"] == "iris-train-abc123-3"
    assert job["metadata"]["labels"]["bodywork.dev/attempt"] == "3"


def test_the_command_is_the_runner_console_script() -> None:
    for pyproject in (ROOT / "pyproject.toml", ROOT / "runner" / "pyproject.toml"):
        scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
        assert scripts[k8s.RUNNER_COMMAND[0]] == "bodywork_runner.cli:main", pyproject
    assert k8s.SPEC_ENV == runner_cli.SPEC_ENV


# --- Jobs, Deployments, Services --------------------------------------------------------


def test_a_job_is_one_attempt() -> None:
    plan = _plan("iris")
    options = _options(plan)
    train = k8s.job(plan, plan.stages["train"], run_id=RUN_ID, attempt=1, options=options)
    spec = train["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == math.ceil(600 + 30)
    assert spec["ttlSecondsAfterFinished"] == 7 * 24 * 3600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    prepare = k8s.job(plan, plan.stages["prepare"], run_id=RUN_ID, attempt=1, options=options)
    assert "activeDeadlineSeconds" not in prepare["spec"]  # no timeout, no deadline
    with pytest.raises(ValueError):
        k8s.job(plan, plan.stages["predict"], run_id=RUN_ID, attempt=1, options=options)
    with pytest.raises(ValueError):
        k8s.job(plan, plan.stages["train"], run_id=RUN_ID, attempt=0, options=options)


@pytest.mark.parametrize("example", ["iris", "bodywork-1.1"])
def test_every_pod_is_locked_down(example: str) -> None:
    for obj in _all_objects(example):
        for pod in _pod_specs(obj):
            controller = _is_controller(obj)
            assert pod["automountServiceAccountToken"] is controller
            assert pod["serviceAccountName"] == (
                "bodywork-controller" if controller else "bodywork-stage"
            )
            assert pod["enableServiceLinks"] is False
            security = pod["securityContext"]
            assert security["runAsNonRoot"] is True and security["runAsUser"] == 1000
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            volumes = {v["name"]: v for v in pod["volumes"]}
            for container in pod["containers"]:
                assert container["command"][0] == (
                    "bodywork-controller" if controller else "bodywork-runner"
                )
                assert container["securityContext"] == {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                }
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                tmp = "/bodywork/tmp"
                assert tmp in mounts and "emptyDir" in volumes[mounts[tmp]]
                assert _env(container)["TMPDIR"]["value"] == tmp
                if not controller:
                    assert "emptyDir" in volumes[mounts["/bodywork/work"]]
                    assert _env(container)["HOME"]["value"] == tmp


def test_image_pull_secrets_and_stage_images(project: ProjectWriter) -> None:
    plan = _rich(project)
    options = _options(plan, image_pull_secrets=("one", "two"))
    for obj in k8s.render_plan(plan, run_id=RUN_ID, options=options, controller_image="ctl:1"):
        for pod in _pod_specs(obj):
            assert pod["imagePullSecrets"] == [{"name": "one"}, {"name": "two"}]
    serve = k8s.deployment(plan, plan.stages["serve"], run_id=RUN_ID, options=options)
    assert (
        serve["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com/serve:1"
    )
    (cron,) = [
        o
        for o in k8s.render_plan(plan, run_id=RUN_ID, options=options, controller_image="ctl:1")
        if o["kind"] == "CronJob"
    ]
    assert (
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] == "ctl:1"
    )


def test_a_new_version_runs_beside_the_old_one() -> None:
    plan = _plan("bodywork-1.1")
    options = _options(plan)
    stage = plan.stages["serve_model"]
    old = k8s.deployment(plan, stage, run_id="20260101-120000-aaaaaa", options=options)
    new = k8s.deployment(plan, stage, run_id="20260102-120000-bbbbbb", options=options)
    assert (old["metadata"]["name"], new["metadata"]["name"]) == (
        "serve-model-aaaaaa",
        "serve-model-bbbbbb",
    )
    spec = new["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert spec["progressDeadlineSeconds"] == 60 + 30
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 5000}  # a module serving itself
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    # the Service has one name for every version; its selector picks the version
    before = k8s.service(plan, stage, run_id="20260101-120000-aaaaaa", options=options)
    after = k8s.service(plan, stage, run_id="20260102-120000-bbbbbb", options=options)
    assert before["metadata"]["name"] == after["metadata"]["name"] == "serve-model"
    assert after["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert before["spec"]["selector"] == old["spec"]["selector"]["matchLabels"]
    assert after["spec"]["type"] == "ClusterIP"
    assert after["spec"]["ports"] == [
        {"name": "service", "port": 5000, "targetPort": 5000, "protocol": "TCP"}
    ]


def test_a_notebook_service_is_probed_on_its_health_path() -> None:
    plan = _plan("iris")
    dep = k8s.deployment(plan, plan.stages["predict"], run_id=RUN_ID, options=_options(plan))
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 5000}
    assert container["ports"] == [{"name": "service", "containerPort": 5000, "protocol": "TCP"}]
    spec = _spec_of(container)
    assert spec.service is not None and (spec.service.host, spec.service.port) == ("0.0.0.0", 5000)
    assert "progressDeadlineSeconds" not in dep["spec"]  # no timeout: Kubernetes' default


def test_a_service_name_must_start_with_a_letter() -> None:
    plan = _plan("iris")
    odd = plan.stages["predict"].model_copy(update={"k8s_name": "4-predict"})
    with pytest.raises(BadInputError, match="start with a letter"):
        k8s.service(plan, odd, run_id=RUN_ID, options=_options(plan))


def test_owner_references() -> None:
    plan = _plan("iris")
    owner = OwnerReference(api_version="v1", kind="ConfigMap", name="run-record", uid="1234")
    job = k8s.job(
        plan, plan.stages["train"], run_id=RUN_ID, attempt=1, options=_options(plan), owner=owner
    )
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "run-record",
            "uid": "1234",
            "controller": False,
        }
    ]
    plain = k8s.job(plan, plan.stages["train"], run_id=RUN_ID, attempt=1, options=_options(plan))
    assert "ownerReferences" not in plain["metadata"]


# --- the source -------------------------------------------------------------------------


def test_a_local_folder_plan_is_refused() -> None:
    plan = _plan("iris").model_copy(update={"source": PlannedSource(local_path="/home/me/iris")})
    options = KubernetesOptions(namespace="iris")
    stage = plan.stages["train"]
    for render in (
        lambda: k8s.job(plan, stage, run_id=RUN_ID, attempt=1, options=options),
        lambda: k8s.deployment(plan, plan.stages["predict"], run_id=RUN_ID, options=options),
        lambda: k8s.service(plan, plan.stages["predict"], run_id=RUN_ID, options=options),
        lambda: k8s.render_plan(plan, run_id=RUN_ID, options=options),
    ):
        with pytest.raises(BadInputError, match="commit and push"):
            render()
    unpinned = plan.model_copy(update={"source": PlannedSource(repo="https://example.com/x.git")})
    with pytest.raises(BadInputError, match="not pinned to a commit"):
        k8s.job(unpinned, stage, run_id=RUN_ID, attempt=1, options=options)
    token = PlannedSource(
        repo="https://x-access-token:ghp_secret@github.com/o/r.git", commit="0" * 40
    )
    with pytest.raises(BadInputError, match="holds credentials") as info:
        k8s.job(
            plan.model_copy(update={"source": token}),
            stage,
            run_id=RUN_ID,
            attempt=1,
            options=options,
        )
    assert "ghp_secret" not in str(info.value)
    ssh = PlannedSource(repo="git@github.com:o/r.git", commit="0" * 40)
    assert k8s.job(
        plan.model_copy(update={"source": ssh}), stage, run_id=RUN_ID, attempt=1, options=options
    )


# --- Ingress, CronJob -------------------------------------------------------------------


def test_an_ingress_only_when_asked(project: ProjectWriter) -> None:
    iris = _plan("iris")
    assert k8s.ingress(iris, iris.stages["predict"], _options(iris)) is None
    assert k8s.ingress(iris, iris.stages["train"], _options(iris)) is None
    assert "Ingress" not in {
        o["kind"] for o in k8s.render_plan(iris, run_id=RUN_ID, options=_options(iris))
    }
    plan = _rich(project)
    routed = k8s.ingress(plan, plan.stages["serve"], _options(plan))
    assert routed is not None and "ingressClassName" not in routed["spec"]
    (rule,) = routed["spec"]["rules"]
    assert rule["http"]["paths"] == [
        {
            "path": "/churn/serve",
            "pathType": "Prefix",
            "backend": {"service": {"name": "serve", "port": {"number": 8080}}},
        }
    ]
    options = _options(plan, ingress_class="nginx", ingress_annotations={"example.com/x": "y"})
    classed = k8s.ingress(plan, plan.stages["serve"], options)
    assert classed is not None and classed["spec"]["ingressClassName"] == "nginx"
    assert classed["metadata"]["annotations"]["example.com/x"] == "y"


def test_the_controller_job_drives_one_run() -> None:
    plan = _plan("iris")
    options = _options(plan)
    job = k8s.controller_job(plan, RUN_ID, options=options, image="ctl:1")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert (
        job["metadata"]["name"] == k8s.controller_job_name(plan, RUN_ID) == "iris-controller-abc123"
    )
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "controller"
    assert labels["bodywork.dev/run"] == RUN_ID
    assert labels["app.kubernetes.io/part-of"] == "iris"
    spec = job["spec"]
    # a killed controller pod is replaced (it resumes from the record); finished Jobs stay
    assert spec["backoffLimit"] == k8s.CONTROLLER_BACKOFF_LIMIT > 0
    assert spec["ttlSecondsAfterFinished"] == options.job_ttl_seconds
    assert "activeDeadlineSeconds" not in spec  # services may take their time
    pod = spec["template"]["spec"]
    assert spec["template"]["metadata"]["labels"] == labels
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (
        "bodywork-controller",
        True,
    )
    assert pod["restartPolicy"] == "Never"  # the Job makes a new pod, not the kubelet
    (container,) = pod["containers"]
    assert container["image"] == "ctl:1"
    assert container["command"] == ["bodywork-controller", "--namespace", "iris", "--run", RUN_ID]
    assert container["command"] == k8s.controller_command(plan, options, RUN_ID)
    local = plan.model_copy(update={"source": PlannedSource(local_path="/home/me/iris")})
    with pytest.raises(BadInputError, match="cannot fetch"):
        k8s.controller_job(local, RUN_ID, options=options, image="ctl:1")


def test_a_cronjob_only_with_a_schedule(project: ProjectWriter) -> None:
    iris = _plan("iris")
    assert k8s.cronjob(iris, options=_options(iris), image="img") is None
    assert "CronJob" not in {
        o["kind"] for o in k8s.render_plan(iris, run_id=RUN_ID, options=_options(iris))
    }
    plan = _rich(project)
    options = _options(plan)
    cron = k8s.cronjob(plan, options=options, image="img:1")
    assert cron is not None
    assert cron["apiVersion"] == "batch/v1"
    spec = cron["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"], spec["timeZone"]) == (
        "0 3 * * *",
        "Forbid",
        "Etc/UTC",
    )
    assert cron["metadata"]["name"] == "churn-schedule"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "bodywork-controller",
        "--namespace",
        "churn",
        "--plan",
        "/etc/bodywork/plan.json",
    ]
    # the controller finds its own Job (a replaced pod takes over the run its Job recorded)
    job_env = _env(container)[k8s.CONTROLLER_JOB_ENV]["valueFrom"]["fieldRef"]
    assert job_env == {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == k8s.CONTROLLER_BACKOFF_LIMIT
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["plan"]["configMap"]["name"] == "churn-plan"
    config_map = k8s.plan_config_map(plan, options=options)
    assert config_map["metadata"]["name"] == "churn-plan"
    assert Plan.model_validate_json(config_map["data"]["plan.json"]) == plan


# --- RBAC -------------------------------------------------------------------------------


def test_rbac_is_namespaced_and_minimal() -> None:
    objects = k8s.rbac("ml")
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ServiceAccount"]
    assert not {"ClusterRole", "ClusterRoleBinding"} & set(kinds)
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "ml"
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no resourceNames games, no URLs
        for value in (*rule["apiGroups"], *rule["resources"], *rule["verbs"]):
            assert "*" not in value
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    # exactly the calls the controller makes (server-side apply is a patch, and a create
    # when the object is new); tests/k8s runs the controller under this Role only
    assert granted == {
        ("batch", "jobs"): {"create", "patch", "get", "list", "watch", "delete"},
        ("", "pods"): {"list", "watch"},
        ("", "pods/log"): {"get"},
        ("apps", "deployments"): {"create", "patch", "get", "list", "watch", "delete"},
        ("", "services"): {"create", "patch", "list", "delete"},
        ("networking.k8s.io", "ingresses"): {"create", "patch", "list", "delete"},
        ("", "configmaps"): {"create", "patch", "get", "list", "watch"},
        ("coordination.k8s.io", "leases"): {"create", "get", "update"},
    }
    for forbidden in ("secrets", "namespaces", "roles", "rolebindings", "serviceaccounts"):
        assert not any(resource == forbidden for _, resource in granted)
    for verbs in granted.values():
        assert not {"escalate", "bind", "impersonate"} & verbs
    (binding,) = [o for o in objects if o["kind"] == "RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "bodywork-controller",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "bodywork-controller", "namespace": "ml"}
    ]
    stage_sa = objects[-1]
    assert stage_sa["metadata"]["name"] == "bodywork-stage"
    assert stage_sa["automountServiceAccountToken"] is False
    assert objects[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError):
        KubernetesOptions(namespace="Not_A_Namespace")
    with pytest.raises(ValidationError):
        KubernetesOptions(namespace="ml", image_pull_secrets=("bad name",))
    with pytest.raises(ValidationError):
        KubernetesOptions(namespace="ml", run_as_user=0)
    with pytest.raises(ValidationError):
        KubernetesOptions(namespace="ml", unknown=1)  # type: ignore[call-arg]
    options = KubernetesOptions(namespace="ml")
    with pytest.raises(ValidationError):
        options.namespace = "other"  # type: ignore[misc]


def _ids(value: Any) -> Iterator[int]:
    if isinstance(value, dict | list):
        yield id(value)
        for item in value.values() if isinstance(value, dict) else value:
            yield from _ids(item)


def test_the_rendering_is_json_ready_and_shares_nothing() -> None:
    for example in ("iris", "bodywork-1.1"):
        objects = _all_objects(example)
        assert json.loads(json.dumps(objects)) == objects
        ids = list(_ids(objects))
        assert len(ids) == len(set(ids))  # changing one object never changes another
