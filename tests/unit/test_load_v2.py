"""bodywork.yaml 2.0: every field, its normal form, and how each mistake is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline.load import check, load_pipeline
from bodywork_jupyter.pipeline.model import Resources, RetryPolicy, SecretRef, ServiceSpec

FULL_V2 = """\
version: "2.0"
pipeline:
  name: churn-model
  image: ghcr.io/example/bodywork-stage:2.0
  image_pull_secrets: [regcred, registry.example.com]
  namespace: ml-prod
  secrets_group: prod
  schedule: "30 2 * * 1-5"
  run_on_failure: notify
  log_level: DEBUG
stages:
  ingest:
    path: pipeline/ingest.py
    args: ["--since", "2021-01-01"]
    env:
      MODE: full
      BATCH_SIZE: 500
      RATIO: 0.25
      DRY_RUN: false
    secrets:
      AWS_ACCESS_KEY_ID: aws-credentials
      TOKEN:
        secret: api-tokens
        key: ingest-token
      PASSWORD:
        secret: db
    requirements: requirements/ingest.txt
    resources:
      cpu_request: 0.5
      cpu_limit: 2
      memory_request_mb: 256
      memory_limit_mb: 1024
    timeout: 1h30m
    retries:
      count: 3
      backoff: 30s
      backoff_factor: 1.5
      max_backoff: 10m
  train:
    path: notebooks/train.ipynb
    depends_on: [ingest]
    parameters:
      alpha: 0.5
      layers: [64, 32]
      options: {early_stop: true, name: null}
    requirements:
      - scikit-learn>=1.3
    image: python:3.11-slim
    resources: {gpu: 1}
    timeout: 600
    retries: 2
  serve:
    path: notebooks/serve.ipynb
    depends_on:
      - train
    service:
      port: 8080
      replicas: 3
      readiness_path: /ready
      ingress: true
      predict_function: score_rows
    timeout: 90s
  api:
    path: pipeline/api.py
    kind: service
    depends_on: [train]
  notify:
    path: pipeline/notify.py
"""
FULL_FILES = (
    "pipeline/ingest.py",
    "requirements/ingest.txt",
    "notebooks/train.ipynb",
    "notebooks/serve.ipynb",
    "pipeline/api.py",
    "pipeline/notify.py",
)

MINIMAL_V2 = """\
version: "2.0"
pipeline:
  name: tiny
stages:
  job:
    path: job.py
"""


def line_no(text: str, needle: str) -> int:
    """The line (1-based) where ``needle`` first appears in ``text``."""
    return text[: text.index(needle)].count("\n") + 1


def rendered(root: Path) -> list[str]:
    return [f"{p.line} {p.path}: {p.message} - {p.hint}" for p in check(root).problems]


def test_the_full_example_validates(project) -> None:
    result = check(project(FULL_V2, *FULL_FILES))
    assert result.problems == []
    assert result.pipeline is not None


def test_pipeline_settings_normalize(project) -> None:
    root = project(FULL_V2, *FULL_FILES)
    pipeline = load_pipeline(root)
    assert pipeline.source_version == "2.0"
    assert pipeline.name == "churn-model"
    assert pipeline.image == "ghcr.io/example/bodywork-stage:2.0"
    assert pipeline.image_pull_secrets == ("regcred", "registry.example.com")
    assert pipeline.namespace == "ml-prod"
    assert pipeline.secrets_group == "prod"
    assert pipeline.schedule == "30 2 * * 1-5"
    assert pipeline.run_on_failure == "notify"
    assert pipeline.log_level == "DEBUG"
    assert pipeline.root == str(root.resolve())
    assert pipeline.dependencies() == {
        "ingest": (),
        "train": ("ingest",),
        "serve": ("train",),
        "api": ("train",),
    }


def test_a_batch_stage_normalizes(project) -> None:
    ingest = load_pipeline(project(FULL_V2, *FULL_FILES)).stages["ingest"]
    assert ingest.kind == "batch"
    assert ingest.path == "pipeline/ingest.py"
    assert ingest.args == ("--since", "2021-01-01")
    assert ingest.env == {"MODE": "full", "BATCH_SIZE": "500", "RATIO": "0.25", "DRY_RUN": "false"}
    assert ingest.secrets == {
        "AWS_ACCESS_KEY_ID": SecretRef(secret="aws-credentials", key="AWS_ACCESS_KEY_ID"),
        "TOKEN": SecretRef(secret="api-tokens", key="ingest-token"),
        "PASSWORD": SecretRef(secret="db", key="PASSWORD"),
    }
    assert ingest.requirements == ()
    assert ingest.requirements_file == "requirements/ingest.txt"
    assert ingest.resources == Resources(
        cpu_request=0.5, cpu_limit=2.0, memory_request_mb=256, memory_limit_mb=1024
    )
    assert ingest.timeout_seconds == 5400.0
    assert ingest.retries == RetryPolicy(
        count=3, backoff_seconds=30.0, backoff_factor=1.5, max_backoff_seconds=600.0
    )
    assert ingest.service is None
    assert ingest.image is None


def test_a_notebook_stage_normalizes(project) -> None:
    train = load_pipeline(project(FULL_V2, *FULL_FILES)).stages["train"]
    assert train.is_notebook
    assert train.parameters == {
        "alpha": 0.5,
        "layers": [64, 32],
        "options": {"early_stop": True, "name": None},
    }
    assert train.requirements == ("scikit-learn>=1.3",)
    assert train.requirements_file is None
    assert train.image == "python:3.11-slim"
    assert train.resources == Resources(gpu=1)
    assert train.timeout_seconds == 600.0
    assert train.retries == RetryPolicy(count=2)


def test_service_stages_normalize(project) -> None:
    pipeline = load_pipeline(project(FULL_V2, *FULL_FILES))
    serve = pipeline.stages["serve"]
    assert serve.kind == "service"  # from its 'service' section
    assert serve.service == ServiceSpec(
        port=8080, replicas=3, readiness_path="/ready", ingress=True, predict_function="score_rows"
    )
    assert serve.timeout_seconds == 90.0
    api = pipeline.stages["api"]
    assert api.kind == "service"  # from 'kind', with every service default
    assert api.service == ServiceSpec(port=8000)


def test_defaults_of_a_minimal_stage(project) -> None:
    pipeline = load_pipeline(project(MINIMAL_V2, "job.py"))
    job = pipeline.stages["job"]
    assert job.kind == "batch"
    assert job.depends_on == ()
    assert job.timeout_seconds is None
    assert job.retries == RetryPolicy()
    assert job.resources == Resources()
    assert pipeline.log_level == "INFO"
    assert pipeline.image is None
    assert pipeline.image_pull_secrets == ()
    assert pipeline.schedule is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("600", 600.0),
        ("2.5", 2.5),
        ("'90s'", 90.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("1h 2m 3s", 3723.0),
        ("0", 0.0),
    ],
)
def test_durations(project, value: str, seconds: float) -> None:
    text = MINIMAL_V2 + f"    timeout: {value}\n"
    assert load_pipeline(project(text, "job.py")).stages["job"].timeout_seconds == seconds


DURATION_HINT = "write seconds (600) or a string like '90s', '10m', '1h30m'"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10x", f"'10x' is not a duration - {DURATION_HINT}"),
        ("m", f"'m' is not a duration - {DURATION_HINT}"),
        ("'10m1h'", f"'10m1h' is not a duration - {DURATION_HINT}"),
        ("''", f"'' is not a duration - {DURATION_HINT}"),
        ("-5", "a duration cannot be negative - write 0 or more seconds"),
        (".inf", "inf is not a duration - write a number of seconds, e.g. 600"),
        (".nan", "nan is not a duration - write a number of seconds, e.g. 600"),
        ("true", "expected a number or text, got True - write a number, e.g. 0.5"),
    ],
)
def test_bad_durations(project, value: str, message: str) -> None:
    text = MINIMAL_V2 + f"    timeout: {value}\n"
    assert rendered(project(text, "job.py")) == [f"7 stages.job.timeout: {message}"]


def test_bad_durations_inside_retries(project) -> None:
    text = MINIMAL_V2 + "    retries:\n      count: 2\n      backoff: soon\n      max_backoff: -1\n"
    assert rendered(project(text, "job.py")) == [
        f"9 stages.job.retries.backoff: 'soon' is not a duration - {DURATION_HINT}",
        "10 stages.job.retries.max_backoff: a duration cannot be negative - "
        "write 0 or more seconds",
    ]


def test_a_retries_mapping_reports_only_its_own_mistakes(project) -> None:
    text = MINIMAL_V2 + "    retries: {count: -1, backof: 3}\n"
    assert rendered(project(text, "job.py")) == [
        "7 stages.job.retries.backof: unknown key - did you mean 'backoff'?",
        "7 stages.job.retries.count: must be at least 0, got -1 - use 0 or more",
    ]


@pytest.mark.parametrize(
    "schedule", ["0 3 * * *", "*/15 * * * *", "0 0 1 1 *", "30 2 * * 1-5", "@daily"]
)
def test_good_cron_schedules(project, schedule: str) -> None:
    text = MINIMAL_V2.replace("  name: tiny\n", f"  name: tiny\n  schedule: '{schedule}'\n")
    assert load_pipeline(project(text, "job.py")).schedule == schedule


@pytest.mark.parametrize("schedule", ["every day", "61 * * * *", "* * *", "0 25 * * *", ""])
def test_bad_cron_schedules(project, schedule: str) -> None:
    text = MINIMAL_V2.replace("  name: tiny\n", f"  name: tiny\n  schedule: '{schedule}'\n")
    assert rendered(project(text, "job.py")) == [
        f"4 pipeline.schedule: '{schedule}' is not a cron expression - "
        "use five fields, e.g. '0 3 * * *' (03:00 daily)"
    ]


def test_kind_batch_with_a_service_section(project) -> None:
    text = MINIMAL_V2 + "    kind: batch\n    service:\n      port: 8080\n"
    assert rendered(project(text, "job.py")) == [
        "7 stages.job.kind: a batch stage cannot have a 'service' section - "
        "remove 'service:' or set 'kind: service'"
    ]


def test_a_requirements_file(project) -> None:
    text = MINIMAL_V2 + "    requirements: reqs/job.txt\n"
    root = project(text, "job.py", text={"reqs/job.txt": "numpy\n"})
    assert load_pipeline(root).stages["job"].requirements_file == "reqs/job.txt"


def test_a_missing_requirements_file_with_did_you_mean(project) -> None:
    text = MINIMAL_V2 + "    requirements: requirement.txt\n"
    root = project(text, "job.py", text={"requirements.txt": "numpy\n"})
    assert rendered(root) == [
        "7 stages.job.requirements: requirements file 'requirement.txt' does not exist - "
        "did you mean 'requirements.txt'?"
    ]


def test_a_requirements_file_outside_the_project(project, tmp_path: Path) -> None:
    (tmp_path / "reqs.txt").write_text("numpy\n")
    text = MINIMAL_V2 + "    requirements: ../reqs.txt\n"
    assert rendered(project(text, "job.py")) == [
        "7 stages.job.requirements: '../reqs.txt' points outside the project folder (via '..') - "
        "keep stage files inside the folder that holds bodywork.yaml"
    ]


def test_a_stage_path_through_an_escaping_symlink(project, tmp_path: Path) -> None:
    (tmp_path / "other.ipynb").write_text("{}")
    root = project(MINIMAL_V2.replace("job.py", "nb.ipynb"))
    (root / "nb.ipynb").symlink_to(tmp_path / "other.ipynb")
    assert rendered(root) == [
        "6 stages.job.path: 'nb.ipynb' points outside the project folder (via a symlink) - "
        "keep stage files inside the folder that holds bodywork.yaml"
    ]


def test_a_stage_path_through_dotdot(project, tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("\n")
    assert rendered(project(MINIMAL_V2.replace("job.py", "../job.py"))) == [
        "6 stages.job.path: '../job.py' points outside the project folder (via '..') - "
        "keep stage files inside the folder that holds bodywork.yaml"
    ]


def test_a_missing_stage_file_with_did_you_mean(project) -> None:
    assert rendered(
        project(MINIMAL_V2.replace("job.py", "nbs/tarin.ipynb"), "nbs/train.ipynb")
    ) == [
        "6 stages.job.path: stage file 'nbs/tarin.ipynb' does not exist - "
        "did you mean 'train.ipynb'?"
    ]


def test_a_home_relative_path(project) -> None:
    assert rendered(project(MINIMAL_V2.replace("job.py", "~/job.py"), "job.py")) == [
        "6 stages.job.path: '~/job.py' is an absolute path - write it relative to bodywork.yaml"
    ]


def test_paths_are_normalized(project) -> None:
    root = project(MINIMAL_V2.replace("job.py", "./src/../src/job.py"), "src/job.py")
    assert load_pipeline(root).stages["job"].path == "src/job.py"


def test_an_unquoted_version(project) -> None:
    root = project(MINIMAL_V2.replace('"2.0"', "2.0"), "job.py")
    assert load_pipeline(root).source_version == "2.0"


def test_a_service_with_retries_policy_is_a_warning(project) -> None:
    text = MINIMAL_V2 + "    kind: service\n    retries: {count: 2}\n"
    result = check(project(text, "job.py"))
    assert result.errors == []
    assert [p.render().split(": ", 1)[1] for p in result.warnings] == [
        "warning: stages.job.retries: retries apply to batch stages only - remove it"
    ]
    assert result.pipeline is not None


# -- mistakes, one per field ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        (
            "  image: ghcr",
            "  imag: ghcr",
            "imag:",
            "pipeline.imag: unknown key - did you mean 'image'?",
        ),
        (
            "  image_pull_secrets: [regcred",
            "  image_pull_secrets: [RegCred",
            "RegCred",
            "pipeline.image_pull_secrets[0]: 'RegCred' is not a Kubernetes Secret name - write "
            "the Secret's name: lower-case letters, digits, '-' and '.' (at most 253), e.g. regcred",
        ),
        (
            "  image_pull_secrets: [regcred, registry.example.com]",
            "  image_pull_secrets: regcred",
            "image_pull_secrets",
            "pipeline.image_pull_secrets: expected a list, got 'regcred' - write a YAML list: "
            "'[a, b]' or one '- item' per line",
        ),
        (
            "  image_pull_secrets: [regcred",
            "  image_pull_secrets: [-regcred",
            "-regcred",
            "pipeline.image_pull_secrets[0]: '-regcred' is not a Kubernetes Secret name - write "
            "the Secret's name: lower-case letters, digits, '-' and '.' (at most 253), e.g. regcred",
        ),
        (
            "  secrets_group: prod",
            "  secret_group: prod",
            "secret_group",
            "pipeline.secret_group: unknown key - did you mean 'secrets_group'?",
        ),
        (
            "  log_level: DEBUG",
            "  log_level: debug",
            "debug",
            "pipeline.log_level: expected 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL', got "
            "'debug' - use 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'",
        ),
        (
            "  name: churn-model",
            "  name: churn model",
            "churn model",
            "pipeline.name: may only hold letters, digits, '-' and '.', got 'churn model' - "
            "rename it, e.g. 'my-pipeline'",
        ),
        (
            "  namespace: ml-prod",
            "  namespace: [ml]",
            "namespace",
            "pipeline.namespace: expected text, got ['ml'] - put the value in quotes",
        ),
        (
            "    depends_on: [ingest]",
            "    depend_on: [ingest]",
            "depend_on",
            "stages.train.depend_on: unknown key - did you mean 'depends_on'?",
        ),
        (
            "    depends_on: [ingest]",
            "    depends_on: ingest",
            "depends_on: ingest",
            "stages.train.depends_on: expected a list, got 'ingest' - write a YAML list: '[a, b]' "
            "or one '- item' per line",
        ),
        (
            "      BATCH_SIZE: 500",
            "      BATCH_SIZE: {n: 500}",
            "BATCH_SIZE",
            "stages.ingest.env.BATCH_SIZE: expected text or a whole number or a number or true or "
            "false, got {'n': 500} - put the value in quotes",
        ),
        (
            "        key: ingest-token",
            "        kye: ingest-token",
            "kye",
            "stages.ingest.secrets.TOKEN.kye: unknown key - did you mean 'key'?",
        ),
        (
            "        secret: db",
            "        key: db",
            "PASSWORD",
            "stages.ingest.secrets.PASSWORD.secret: is required - add 'secret:' under "
            "stages.ingest.secrets.PASSWORD",
        ),
        (
            "      cpu_limit: 2",
            "      cpu_limit: 0",
            "cpu_limit",
            "stages.ingest.resources.cpu_limit: must be more than 0, got 0 - use a value above 0",
        ),
        (
            "      memory_limit_mb: 1024",
            "      memory_limit_mb: 1GB",
            "1GB",
            "stages.ingest.resources.memory_limit_mb: expected a whole number, got '1GB' - "
            "write a whole number, e.g. 3",
        ),
        (
            "    resources: {gpu: 1}",
            "    resources: {gpus: 1}",
            "gpus",
            "stages.train.resources.gpus: unknown key - did you mean 'gpu'?",
        ),
        (
            "    resources: {gpu: 1}",
            "    resources: {gpu: -1}",
            "gpu: -1",
            "stages.train.resources.gpu: must be at least 0, got -1 - use 0 or more",
        ),
        (
            "      backoff_factor: 1.5",
            "      backoff_factor: 0.5",
            "backoff_factor",
            "stages.ingest.retries.backoff_factor: must be at least 1, got 0.5 - use 1 or more",
        ),
        (
            "    retries: 2",
            "    retries: 2.5",
            "retries: 2.5",
            "stages.train.retries: expected a whole number or a mapping, got 2.5 - "
            "write a whole number, e.g. 3",
        ),
        (
            "    retries: 2",
            "    retries: -2",
            "retries: -2",
            "stages.train.retries: must be at least 0, got -2 - use 0 or more",
        ),
        (
            "      port: 8080",
            "      port: 70000",
            "70000",
            "stages.serve.service.port: must be at most 65535, got 70000 - use 65535 or less",
        ),
        (
            "      readiness_path: /ready",
            "      readiness_path: ready",
            "readiness_path",
            "stages.serve.service.readiness_path: must start with '/', got 'ready' - "
            "write an HTTP path such as /healthz",
        ),
        (
            "      predict_function: score_rows",
            "      predict_function: score-rows",
            "score-rows",
            "stages.serve.service.predict_function: must be a Python function name, got "
            "'score-rows' - name a function the notebook defines",
        ),
        (
            "      ingress: true",
            "      ingres: true",
            "ingres",
            "stages.serve.service.ingres: unknown key - did you mean 'ingress'?",
        ),
        (
            "    kind: service",
            "    kind: server",
            "server",
            "stages.api.kind: expected 'batch' or 'service', got 'server' - use 'batch' or "
            "'service'",
        ),
        (
            "    path: pipeline/api.py",
            "    path: pipeline/api.r",
            "api.r",
            "stages.api.path: must name a .py or .ipynb file, got 'pipeline/api.r' - "
            "point it at a module or notebook",
        ),
        (
            "    path: pipeline/notify.py",
            "    pth: pipeline/notify.py",
            "  notify:",
            "stages.notify.path: is required - add 'path:' under stages.notify",
        ),
    ],
)
def test_errors_name_line_and_field(
    project, old: str, new: str, needle: str, expected: str
) -> None:
    assert old in FULL_V2
    text = FULL_V2.replace(old, new, 1)
    root = project(text, *FULL_FILES)
    errors = [e for e in rendered(root) if "warning" not in e]
    line = line_no(text, needle)
    assert f"{line} {expected}" in errors, errors
    assert check(root).pipeline is None


def test_a_typo_in_a_section_name(project) -> None:
    text = MINIMAL_V2.replace("stages:", "stage:")
    assert rendered(project(text, "job.py")) == [
        "1 : section 'stages' is missing - add a 'stages:' section",
        "4 stage: unknown section - did you mean 'stages'?",
    ]


def test_a_v1_section_in_a_v2_file(project) -> None:
    text = MINIMAL_V2 + "logging:\n  log_level: INFO\n"
    assert rendered(project(text, "job.py")) == [
        "7 logging: unknown section - remove it (sections: version, pipeline, stages)"
    ]


@pytest.mark.parametrize("stages", ["{}", "[]", "job.py", "null"])
def test_no_stages(project, stages: str) -> None:
    text = 'version: "2.0"\npipeline:\n  name: tiny\nstages: ' + stages + "\n"
    assert rendered(project(text)) == [
        "4 stages: no stages defined - add at least one stage: 'stages:' then 'name:' with its "
        "settings"
    ]


def test_a_stage_that_is_not_a_mapping(project) -> None:
    assert rendered(project(MINIMAL_V2.replace("    path: job.py\n", "") + "  other: x.py\n")) == [
        "5 stages.job: expected a mapping, got None - write indented 'key: value' lines under it",
        "6 stages.other: expected a mapping, got 'x.py' - write indented 'key: value' lines under "
        "it",
    ]


def test_pipeline_section_that_is_not_a_mapping(project) -> None:
    text = MINIMAL_V2.replace("pipeline:\n  name: tiny\n", "pipeline: tiny\n")
    assert rendered(project(text, "job.py")) == [
        "2 pipeline: expected a mapping, got 'tiny' - write indented 'key: value' lines under it"
    ]


def test_every_problem_at_once_and_config_error(project) -> None:
    text = (
        FULL_V2.replace('  schedule: "30 2 * * 1-5"', "  schedule: sometimes")
        .replace("    timeout: 600", "    timeout: forever")
        .replace("notebooks/serve.ipynb", "notebooks/serv.ipynb")
        .replace("    depends_on: [train]", "    depends_on: [trian]")
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(project(text, *FULL_FILES))
    assert caught.value.exit_code == 2
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (line_no(text, "sometimes"), "pipeline.schedule"),
        (line_no(text, "forever"), "stages.train.timeout"),
        (line_no(text, "serv.ipynb"), "stages.serve.path"),
        (line_no(text, "[trian]"), "stages.api.depends_on[0]"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "regcred",
        "a",
        "registry.example.com",
        "a-b.c-d",
        "0",
        "x" * 253,
        "RegCred",
        "-a",
        "a-",
        "a..b",
        ".a",
        "a_b",
        "a b",
        "x" * 254,
        "",
        "a\n",
        "é",
    ],
)
def test_a_pull_secret_name_is_checked_as_the_cluster_side_checks_object_names(
    project, name: str
) -> None:
    from bodywork_jupyter.plan.kubernetes.names import is_object_name

    text = MINIMAL_V2.replace("  name: tiny\n", "  name: tiny\n  image_pull_secrets: [NAME]\n")
    root = project(text.replace("NAME", json.dumps(name)), "job.py")
    assert (check(root).pipeline is not None) == is_object_name(name), rendered(root)


SERVED_V2 = """\
version: "2.0"
pipeline:
  name: served
stages:
  serve:
    path: {path}
    service:
      port: 8080
      batch: {batch}
"""


def test_a_batched_service_normalizes_and_is_planned(project) -> None:
    from bodywork_jupyter.plan.planner import plan_pipeline
    from bodywork_runner.spec import Source

    text = SERVED_V2.format(path="serve.ipynb", batch="{max_size: 64, max_wait_ms: 2}")
    pipeline = load_pipeline(project(text, "serve.ipynb"))
    service = pipeline.stages["serve"].service
    assert service is not None
    assert (service.batch_max_size, service.batch_max_wait_ms) == (64, 2.0)
    plan = plan_pipeline(pipeline, Source(local_path="/p"))
    planned = plan.stages["serve"].service
    assert planned is not None and (planned.batch_max_size, planned.batch_max_wait_ms) == (64, 2)
    # the defaults: 32 requests, 5 ms; and no batching without the section
    text = SERVED_V2.format(path="serve.ipynb", batch="{}")
    service = load_pipeline(project(text, "serve.ipynb")).stages["serve"].service
    assert service is not None and (service.batch_max_size, service.batch_max_wait_ms) == (32, 5)
    assert ServiceSpec(port=1).batch_max_size == 0


def test_batching_a_module_or_out_of_bounds_is_refused(project) -> None:
    text = SERVED_V2.format(path="serve.py", batch="{max_size: 8}")
    assert rendered(project(text, "serve.py")) == [
        "9 stages.serve.service.batch: batching is for a notebook's predict function: a "
        "module serves itself - remove 'batch:', or serve the model from a notebook's "
        "predict function"
    ]
    text = SERVED_V2.format(path="serve.ipynb", batch="{max_size: 0, max_wait_ms: 5000}")
    shown = rendered(project(text, "serve.ipynb"))
    assert any("stages.serve.service.batch.max_size" in line for line in shown), shown
    assert any("stages.serve.service.batch.max_wait_ms" in line for line in shown), shown
