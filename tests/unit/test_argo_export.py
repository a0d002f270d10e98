"""Plan -> Argo objects: golden files, and the rules the export follows.

Every piece that reaches a pod or the cluster is the Kubernetes target's own: the tests
render both from one plan and compare them. Argo's JSON Schema (../shared/argo, see
tests/argo_data.py) checks every golden file, tightened so unknown keys are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.pipeline.load import load_pipeline
from bodywork_jupyter.plan import Plan, argo, plan_pipeline
from bodywork_jupyter.plan import kubernetes as k8s
from bodywork_jupyter.plan.argo import ArgoOptions, ArgoSchema, validate_export
from bodywork_jupyter.plan.argo.stage_templates import WORKFLOW_RUN_ID
from bodywork_runner.spec import Source, StageSpec
from tests.argo_data import EVERYTHING, FILES, raw_schema
from tests.conftest import ProjectWriter, write_project
from tests.golden import GOLDEN_DIR, assert_golden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SOURCE = Source(repo="https://example.com/ml/project.git", commit="0" * 40, project_dir="ml")
VERSION = "0.1.0"  # fixed, so a version bump does not rewrite the golden files


def _plan(example: str) -> Plan:
    return plan_pipeline(load_pipeline(EXAMPLES / example), SOURCE)


def _everything(folder: Path) -> Plan:
    return plan_pipeline(load_pipeline(write_project(folder, EVERYTHING, *FILES)), SOURCE)


def _options(plan: Plan, kind: argo.ArgoKind = "workflow", **extra: Any) -> ArgoOptions:
    namespace = k8s.deploy_namespace(None, plan)
    return ArgoOptions(
        kind=kind, kubernetes=argo.kubernetes_options(namespace, version=VERSION, **extra)
    )


def _rich_options(plan: Plan, kind: argo.ArgoKind = "workflow") -> ArgoOptions:
    return _options(
        plan,
        kind,
        image_pull_secrets=("registry-credentials",),
        ingress_class="nginx",
        git_credentials_secret="git-credentials",
    )


def _sections(name: str, folder: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    if name == "everything":
        plan = _everything(folder)
        shown = "tests/argo_data.py:EVERYTHING"
        options = _rich_options
        kinds: tuple[argo.ArgoKind, ...] = ("workflow", "cron")
        extra = " --git-secret git-credentials (image pull secret, ingress class nginx)"
    else:
        plan, shown, options, extra = _plan(name), f"examples/{name}", _options, ""
        kinds = ("workflow", "template")
    return [
        (
            f"bodywork export argo {shown} --kind {kind}{extra}",
            argo.render_argo(plan, options(plan, kind)),
        )
        for kind in kinds
    ]


def _golden_text(name: str, folder: Path) -> str:
    return "---\n".join(
        f"# {title}\n" + k8s.to_yaml(docs) for title, docs in _sections(name, folder)
    )


GOLDEN = ("iris", "bodywork-1.1", "everything")


def _golden_documents(name: str) -> list[dict[str, Any]]:
    text = (GOLDEN_DIR / f"argo-{name}.yaml").read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


@pytest.fixture(scope="module")
def schema() -> ArgoSchema:
    return ArgoSchema(raw_schema())


def _templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def _with_defaults(value: Any, doc: dict[str, Any]) -> Any:
    """``value`` with every ``{{workflow.parameters.X}}`` replaced by X's default: what a
    workflow submitted without ``-p`` runs."""
    text = json.dumps(value)
    for parameter in doc["spec"].get("arguments", {}).get("parameters", []):
        reference = "{{workflow.parameters." + parameter["name"] + "}}"
        text = text.replace(reference, json.dumps(parameter["value"])[1:-1])
    return json.loads(text)


def _spec(container: dict[str, Any]) -> StageSpec:
    return StageSpec.from_json(_env(container)[k8s.SPEC_ENV]["value"])


# --- golden files -----------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN)
def test_exports_match_golden(name: str, tmp_path: Path) -> None:
    text = _golden_text(name, tmp_path)
    assert_golden(f"argo-{name}.yaml", text)
    # the file is the objects, nothing lost in the YAML; rendering twice gives the same
    sections = _sections(name, tmp_path)
    assert list(yaml.safe_load_all(text)) == [d for _, docs in sections for d in docs]
    assert _golden_text(name, tmp_path) == text
    assert "&id" not in text and "*id" not in text


@pytest.mark.parametrize("name", GOLDEN)
def test_every_golden_file_passes_our_checks_and_argos_schema(
    name: str, schema: ArgoSchema
) -> None:
    docs = _golden_documents(name)
    kinds = [d["kind"] for d in docs]
    assert kinds in (
        ["Workflow", "WorkflowTemplate"],
        ["Workflow", "WorkflowTemplate", "CronWorkflow"],
    )
    assert argo.check_documents(docs) == []
    for doc in docs:
        assert schema.problems(doc) == [], argo.document_label(doc)
    validate_export(docs, schema)


# --- what the stages become -------------------------------------------------------------


def test_the_dag_is_the_plans(tmp_path: Path) -> None:
    (doc,) = argo.render_argo(_everything(tmp_path), _rich_options(_everything(tmp_path)))
    templates = _templates(doc)
    assert doc["spec"]["entrypoint"] == "pipeline"
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    assert list(tasks) == ["ingest", "train", "evaluate", "serve"]  # alert: the exit handler
    assert "depends" not in tasks["ingest"]
    assert tasks["train"]["depends"] == "ingest"
    assert tasks["serve"]["depends"] == "train && evaluate"
    assert all(t["template"] == name for name, t in tasks.items())
    assert "dependencies" not in json.dumps(doc)  # depends only: Argo refuses a mix


def test_a_batch_stage_runs_the_kubernetes_jobs_container(tmp_path: Path) -> None:
    """Submitted without -p, each stage's container is the Kubernetes Job's, but for the
    run id (the workflow's name), the executed notebook kept out of the log, and its name
    (Argo's main)."""
    plan = _everything(tmp_path)
    options = _rich_options(plan)
    (doc,) = argo.render_argo(plan, options)
    templates = _templates(doc)
    for stage in [*(plan.stages[n] for n in plan.order), plan.run_on_failure]:
        assert stage is not None
        if stage.kind != "batch":
            continue
        job = k8s.job(plan, stage, run_id=WORKFLOW_RUN_ID, attempt=1, options=options.kubernetes)
        pod = job["spec"]["template"]["spec"]
        expected = {k: v for k, v in pod["containers"][0].items() if k != "name"}
        template = templates[stage.k8s_name]
        container = _with_defaults(template["container"], doc)
        spec, job_spec = _spec(container), _spec(expected)
        assert spec == StageSpec(**{**job_spec.__dict__, "emit_notebook": False})
        env = {**_env(container), k8s.SPEC_ENV: None}
        extra = {"BODYWORK_FAILURE"} if stage is plan.run_on_failure else set()
        assert set(env) - extra == {*_env(expected), k8s.SPEC_ENV}
        assert {k: v for k, v in env.items() if k not in extra} == {
            **_env(expected),
            k8s.SPEC_ENV: None,
        }
        assert container["command"] == list(k8s.RUNNER_COMMAND)  # explicit: no image lookup
        assert {k: container[k] for k in container if k != "env"} == {
            k: expected[k] for k in expected if k != "env"
        }
        assert template["volumes"] == pod["volumes"]
        assert template["securityContext"] == pod["securityContext"]
        assert json.loads(template["podSpecPatch"]) == {"enableServiceLinks": False}
        # the code: from git at the pinned commit, fetched by the runner (never inlined)
        assert spec.source.repo == SOURCE.repo and spec.source.commit == SOURCE.commit
        assert spec.work_dir == k8s.WORK_DIR


def test_requirements_resources_gpus_env_and_secret_refs(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    (doc,) = argo.render_argo(plan, _rich_options(plan))
    templates = _templates(doc)
    train = templates["train"]["container"]
    assert train["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048M"},
        "limits": {"cpu": "4", "memory": "8192M", "nvidia.com/gpu": "1"},
    }
    assert _spec(_with_defaults(train, doc)).requirements == ["scikit-learn>=1.3"]
    ingest = _env(templates["ingest"]["container"])
    assert ingest["MODE"] == {"name": "MODE", "value": "full"}
    assert ingest["AWS_ACCESS_KEY_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "prod-aws-credentials", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert ingest["TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "prod-api-tokens", "key": "ingest-token"}
    }
    assert ingest["BODYWORK_GIT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "git-credentials"
    assert doc["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert doc["spec"]["serviceAccountName"] == argo.DEFAULT_SERVICE_ACCOUNT
    # the stage's code gets no token: only Argo's executor does, to report the step
    for name in ("ingest", "train", "evaluate", "alert"):
        assert templates[name]["automountServiceAccountToken"] is False
        assert templates[name]["executor"] == {"serviceAccountName": "bodywork-argo"}


def test_retries_and_per_attempt_deadlines(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    (doc,) = argo.render_argo(plan, _rich_options(plan))
    templates = _templates(doc)
    assert templates["ingest"]["retryStrategy"] == {
        "limit": "3",  # retries, as Bodywork counts them: 4 attempts
        "retryPolicy": "Always",
        "expression": 'lastRetry.exitCode != "2"',  # bad input fails the same every time
        "backoff": {"duration": "30s", "factor": "2", "cap": "600s"},
    }
    assert templates["train"]["retryStrategy"]["limit"] == "2"
    assert "retryStrategy" not in templates["evaluate"]  # no retries
    grace = k8s.DEFAULT_DEADLINE_GRACE_SECONDS
    assert templates["ingest"]["activeDeadlineSeconds"] == str(20 * 60 + grace)
    assert templates["train"]["activeDeadlineSeconds"] == str(2 * 3600 + grace)
    # no timeout: the export's default, so nothing runs for ever
    assert templates["evaluate"]["activeDeadlineSeconds"] == str(24 * 3600)


def test_a_service_applies_the_kubernetes_targets_objects_then_waits(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    options = _rich_options(plan)
    (doc,) = argo.render_argo(plan, options)
    templates = _templates(doc)
    stage = plan.stages["serve"]
    tasks = templates["serve"]["dag"]["tasks"]
    assert [(t["name"], t["template"], t.get("depends")) for t in tasks] == [
        ("deployment", "serve-deployment", None),
        ("service", "serve-service", None),
        ("ingress", "serve-ingress", None),
        ("rollout", "serve-rollout", "deployment"),
    ]
    run_id = argo.SERVICE_RUN_ID
    expected = {
        "deployment": k8s.deployment(plan, stage, run_id=run_id, options=options.kubernetes),
        "service": k8s.service(plan, stage, run_id=run_id, options=options.kubernetes),
        "ingress": k8s.ingress(plan, stage, options.kubernetes),
    }
    for part, obj in expected.items():
        template = templates[f"serve-{part}"]
        resource = template["resource"]
        assert resource["action"] == "apply"  # a retried create would fail: AlreadyExists
        assert resource["setOwnerReference"] is False  # the service outlives the workflow
        assert template["timeout"]  # resource nodes: activeDeadlineSeconds does not apply
        (applied,) = yaml.safe_load_all(resource["manifest"])  # one object per template
        assert _with_defaults(applied, doc) == obj
        # what docs/users/argo.md deletes them by
        assert applied["metadata"]["labels"][k8s.LABEL_PART_OF] == "churn"
    wait = templates["serve-rollout"]
    seconds = 5 * 60 + k8s.DEFAULT_DEADLINE_GRACE_SECONDS
    assert wait["container"]["command"] == [
        "kubectl",
        "rollout",
        "status",
        f"deployment/{k8s.deployment_name(stage, run_id)}",
        f"--namespace={options.namespace}",
        f"--timeout={seconds}s",
    ]
    assert wait["container"]["image"] == argo.DEFAULT_KUBECTL_IMAGE
    assert int(wait["activeDeadlineSeconds"]) > seconds  # bounded, beyond kubectl's own
    # the Deployment's pods: the namespace's own account (they mount no token)
    deployment = yaml.safe_load(templates["serve-deployment"]["resource"]["manifest"])
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default" and pod["automountServiceAccountToken"] is False


def test_run_on_failure_is_the_exit_handler(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    (doc,) = argo.render_argo(plan, _rich_options(plan))
    templates = _templates(doc)
    assert doc["spec"]["onExit"] == argo.EXIT_HANDLER
    (task,) = templates[argo.EXIT_HANDLER]["dag"]["tasks"]
    assert task["template"] == "alert"
    assert task["when"] == "{{workflow.status}} != Succeeded"  # on failure only
    assert task["arguments"]["parameters"] == [
        {"name": "failures", "value": "{{workflow.failures}}"}
    ]
    alert = templates["alert"]
    assert alert["inputs"] == {"parameters": [{"name": "failures"}]}
    assert _env(alert["container"])["BODYWORK_FAILURE"]["value"] == "{{inputs.parameters.failures}}"
    assert _env(alert["container"])["SLACK_WEBHOOK"]["valueFrom"]["secretKeyRef"] == {
        "name": "prod-slack",
        "key": "SLACK_WEBHOOK",
    }
    (plain,) = argo.render_argo(_plan("iris"), _options(_plan("iris")))
    assert "onExit" not in plain["spec"] and argo.EXIT_HANDLER not in _templates(plain)


def test_parameters_are_workflow_arguments_that_submit_p_overrides(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    (doc,) = argo.render_argo(plan, _rich_options(plan))
    assert doc["spec"]["arguments"]["parameters"] == [
        {"name": "train_n_estimators", "value": "200", "description": "train.n_estimators: JSON"},
        {
            "name": "train_model_name",
            "value": "churn-gbm",
            "description": "train.model_name: text, without its quotes",
        },
        {"name": "train_layers", "value": "[64, 32]", "description": "train.layers: JSON"},
        {"name": "evaluate_threshold", "value": "0.8", "description": "evaluate.threshold: JSON"},
    ]
    container = _templates(doc)["train"]["container"]
    assert _spec(_with_defaults(container, doc)).parameters == plan.stages["train"].parameters

    # argo submit -p train_n_estimators=80 -p train_model_name=xgb -p train_layers=[8]
    given = {"train_n_estimators": "80", "train_model_name": "xgb", "train_layers": "[8]"}
    text = _env(container)[k8s.SPEC_ENV]["value"]
    for name, value in given.items():
        text = text.replace("{{workflow.parameters." + name + "}}", value)
    parameters = StageSpec.from_json(text).parameters
    assert parameters == {"n_estimators": 80, "model_name": "xgb", "layers": [8]}


def test_kinds_names_and_retention(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    (workflow,) = argo.render_argo(plan, _rich_options(plan))
    template, cron = argo.render_argo(plan, _rich_options(plan, "cron"))
    assert workflow["metadata"]["generateName"] == "churn-" and "name" not in workflow["metadata"]
    assert template["kind"] == "WorkflowTemplate" and template["metadata"]["name"] == "churn"
    assert template["spec"] == workflow["spec"]  # one spec, two kinds
    assert cron["kind"] == "CronWorkflow" and cron["metadata"]["name"] == "churn"
    assert cron["spec"]["schedules"] == ["0 3 * * *"]  # plural: Argo 4 has no 'schedule'
    assert cron["spec"]["timezone"] == "Etc/UTC" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["workflowSpec"] == {"workflowTemplateRef": {"name": "churn"}}
    assert workflow["spec"]["ttlStrategy"] == {
        "secondsAfterCompletion": k8s.DEFAULT_JOB_TTL_SECONDS
    }
    assert workflow["spec"]["podGC"] == {"strategy": "OnWorkflowSuccess"}
    for doc in (workflow, template, cron):
        assert doc["metadata"]["namespace"] == "churn"
        assert doc["metadata"]["labels"][k8s.LABEL_PART_OF] == "churn"


@pytest.mark.parametrize("length", [10, 52, 53, 58, 63, 64, 200])
def test_names_stay_within_argos_limits(length: int) -> None:
    data = _plan("iris").model_dump(mode="json")
    data["pipeline"] = data["k8s_name"] = "p" * length
    data["namespace"], data["schedule"] = "ml", "0 3 * * *"
    plan = Plan.model_validate(data)
    (workflow,) = argo.render_argo(plan, _options(plan))
    template, cron = argo.render_argo(plan, _options(plan, "cron"))
    generate = workflow["metadata"]["generateName"]
    assert generate.endswith("-") and len(generate) + argo.names.GENERATED_CHARS <= 63
    assert len(template["metadata"]["name"]) <= 63
    assert len(cron["metadata"]["name"]) <= 52  # its Workflows get -<10 digits>
    assert argo.check_documents([workflow, template, cron]) == []
    if length > 52:  # cut, ending with a hash of the whole name: stable, never colliding
        assert cron["metadata"]["name"] != "p" * 52
    else:
        assert cron["metadata"]["name"] == "p" * length


def test_the_stage_names_are_argo_names(tmp_path: Path) -> None:
    config = EVERYTHING.replace("  evaluate:", "  evaluate_v2:").replace(
        "[train, evaluate]", "[train, evaluate_v2]"
    )
    folder = write_project(tmp_path / "p", config, *FILES)
    (doc,) = argo.render_argo(plan := plan_pipeline(load_pipeline(folder), SOURCE), _options(plan))
    tasks = {t["name"]: t for t in _templates(doc)["pipeline"]["dag"]["tasks"]}
    assert tasks["serve"]["depends"] == "train && evaluate-v2"
    assert [p["name"] for p in doc["spec"]["arguments"]["parameters"]][
        -1
    ] == "evaluate-v2_threshold"


# --- refused before anything is rendered --------------------------------------------------


def test_a_cron_workflow_needs_a_schedule() -> None:
    with pytest.raises(BadInputError, match="has no schedule, so there is no CronWorkflow"):
        argo.render_argo(_plan("iris"), _options(_plan("iris"), "cron"))


def test_a_folder_plan_is_refused() -> None:
    plan = plan_pipeline(load_pipeline(EXAMPLES / "iris"), Source(local_path=str(EXAMPLES)))
    with pytest.raises(BadInputError, match="a folder on this machine, which a cluster cannot"):
        argo.render_argo(plan, _options(plan))


def test_text_argo_would_read_as_a_variable_is_refused(project: ProjectWriter) -> None:
    config = EVERYTHING.replace("env: {MODE: full}", "env: {MODE: '{{workflow.name}}'}")
    plan = plan_pipeline(load_pipeline(project(config, *FILES)), SOURCE)
    with pytest.raises(BadInputError, match=r"stages\.ingest\.env\.MODE holds '\{\{'"):
        argo.render_argo(plan, _options(plan))


def test_template_names_that_would_clash_are_refused(project: ProjectWriter) -> None:
    config = EVERYTHING.replace("  alert:\n", "  serve-rollout:\n    path: alert.py\n  alert:\n")
    plan = plan_pipeline(load_pipeline(project(config, *FILES)), SOURCE)
    with pytest.raises(BadInputError, match="'serve-rollout' would be used 2 times"):
        argo.render_argo(plan, _options(plan))


def test_a_parameter_argo_cannot_name_is_refused(project: ProjectWriter) -> None:
    config = EVERYTHING.replace("{threshold: 0.8}", "{schwelle.wert: 0.8}")
    plan = plan_pipeline(load_pipeline(project(config, *FILES)), SOURCE)
    with pytest.raises(BadInputError, match=r"parameter 'schwelle\.wert' cannot name an Argo"):
        argo.render_argo(plan, _options(plan))


def test_the_notes_say_what_differs(project: ProjectWriter) -> None:
    config = EVERYTHING.replace("backoff_factor: 2,", "backoff_factor: 1.5,")
    plan = plan_pipeline(load_pipeline(project(config, *FILES)), SOURCE)
    notes = argo.export_notes(plan, _options(plan))
    assert any("schedule '0 3 * * *'" in n and "--kind cron" in n for n in notes)
    assert any(
        "stage ingest: Argo's backoff factor is a whole number, 1.5 becomes 2" in n for n in notes
    )
    assert not any("schedule" in n for n in argo.export_notes(plan, _options(plan, "cron")))


def test_the_workflow_pulls_with_the_options_then_the_pipelines_secrets(
    project: ProjectWriter, tmp_path: Path
) -> None:
    config = EVERYTHING.replace(
        "  secrets_group: prod\n",
        "  secrets_group: prod\n  image_pull_secrets: [regcred, registry-credentials]\n",
    )
    assert config != EVERYTHING
    # export argo --image-pull-secret team: after bodywork.yaml's
    pipeline = load_pipeline(project(config, *FILES))
    plan = plan_pipeline(pipeline, SOURCE, image_pull_secrets=["team"])
    options = _rich_options(plan)  # the options' registry-credentials comes first, once
    union = [{"name": n} for n in ("registry-credentials", "regcred", "team")]
    for kind in ("workflow", "cron"):  # a Workflow; a WorkflowTemplate (and its CronWorkflow)
        first = argo.render_argo(plan, _rich_options(plan, kind))[0]
        assert first["spec"]["imagePullSecrets"] == union
    (doc,) = argo.render_argo(plan, options)
    templates = _templates(doc)
    # Argo's templates have none of their own: the workflow's apply to every pod
    assert not any("imagePullSecrets" in t for t in templates.values())
    # the service's Deployment is the Kubernetes target's, with the same secrets
    deployment = yaml.safe_load(templates["serve-deployment"]["resource"]["manifest"])
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == union
    bare = _everything(tmp_path / "bare")
    assert "imagePullSecrets" not in argo.render_argo(bare, _options(bare))[0]["spec"]


def test_no_secret_value_is_in_an_export(tmp_path: Path) -> None:
    plan = _everything(tmp_path)
    text = k8s.to_yaml(argo.render_argo(plan, _rich_options(plan, "cron")))
    # the plan holds references only; the export repeats them as secretKeyRefs
    assert text.count("secretKeyRef") >= 4 and "password" not in text.lower()


def test_the_workflows_access_matches_golden_and_the_docs() -> None:
    """The Role docs/users/argo.md shows is the one rendered (for namespace ml)."""
    text = k8s.to_yaml(argo.workflow_access(ArgoOptions(kubernetes=argo.kubernetes_options("ml"))))
    assert_golden("argo-access.yaml", text)
    assert text in (ROOT / "docs" / "users" / "argo.md").read_text(encoding="utf-8")
