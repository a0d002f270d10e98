"""Bodywork 1.1 files load unchanged and normalize to the same Pipeline as 2.0 would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bodywork_jupyter.errors import ConfigError
from bodywork_jupyter.pipeline.load import check, load_pipeline
from bodywork_jupyter.pipeline.model import RetryPolicy, SecretRef, ServiceSpec

# Our own example in the shape of a Bodywork 1.1 project: every field of the format.
FULL_V1 = """\
version: "1.1"
pipeline:
  name: churn-model
  docker_image: bodyworkml/bodywork-core:3.1
  DAG: ingest >> train_model, report >> scoring-service
  usage_stats: false
  run_on_failure: notify
  namespace: ml-prod
  secrets_group: prod
stages:
  ingest:
    executable_module_path: pipeline/ingest.py
    args: ["--since", "2021-01-01"]
    requirements:
      - pandas==1.3.5
      - boto3>=1.20
    cpu_request: 0.5
    memory_request_mb: 256
    secrets:
      AWS_ACCESS_KEY_ID: aws-credentials
      AWS_SECRET_ACCESS_KEY: aws-credentials
    batch:
      max_completion_time_seconds: 120
      retries: 2
  train_model:
    executable_module_path: notebooks/train_model.ipynb
    requirements: [scikit-learn==1.0.2]
    cpu_request: 2
    memory_request_mb: 1024
    batch:
      max_completion_time_seconds: 1800
      retries: 1
  report:
    executable_module_path: pipeline/report.py
    cpu_request: 0.25
    memory_request_mb: 128
    batch:
      max_completion_time_seconds: 60
      retries: 0
  scoring-service:
    executable_module_path: pipeline/serve.py
    args: [--port, "5000"]
    requirements:
      - flask==2.0.2
    cpu_request: 0.5
    memory_request_mb: 512
    secrets:
      API_TOKEN: scoring-token
    service:
      max_startup_time_seconds: 60
      replicas: 2
      port: 5000
      ingress: true
  notify:
    executable_module_path: pipeline/notify.py
    cpu_request: 0.1
    memory_request_mb: 64
    batch:
      max_completion_time_seconds: 30
      retries: 0
logging:
  log_level: INFO
"""
FULL_FILES = (
    "pipeline/ingest.py",
    "notebooks/train_model.ipynb",
    "pipeline/report.py",
    "pipeline/serve.py",
    "pipeline/notify.py",
)

MINIMAL_V1 = """\
version: "1.1"
pipeline:
  name: tiny
  docker_image: bodyworkml/bodywork-core:3.1
  DAG: job
stages:
  job:
    executable_module_path: job.py
    cpu_request: 0.5
    memory_request_mb: 100
    batch:
      max_completion_time_seconds: 30
      retries: 0
logging:
  log_level: {level}
"""


def rendered(root: Path) -> list[str]:
    return [f"{p.line} {p.path}: {p.message} - {p.hint}" for p in check(root).problems]


def test_the_full_example_validates_unchanged(project) -> None:
    result = check(project(FULL_V1, *FULL_FILES))
    assert result.problems == []
    assert result.pipeline is not None


def test_the_full_example_normalizes(project) -> None:
    root = project(FULL_V1, *FULL_FILES)
    pipeline = load_pipeline(root)
    assert pipeline.name == "churn-model"
    assert pipeline.source_version == "1.1"
    assert pipeline.image == "bodyworkml/bodywork-core:3.1"
    assert pipeline.namespace == "ml-prod"
    assert pipeline.secrets_group == "prod"
    assert pipeline.run_on_failure == "notify"
    assert pipeline.log_level == "INFO"
    assert pipeline.schedule is None
    assert pipeline.root == str(root.resolve())
    assert pipeline.config_file == str((root / "bodywork.yaml").resolve())
    assert list(pipeline.stages) == ["ingest", "train_model", "report", "scoring-service", "notify"]
    # dependencies come from the DAG's steps
    assert pipeline.dependencies() == {
        "ingest": (),
        "train_model": ("ingest",),
        "report": ("ingest",),
        "scoring-service": ("train_model", "report"),
    }
    assert pipeline.stages["notify"].depends_on == ()


def test_a_batch_stage_normalizes(project) -> None:
    ingest = load_pipeline(project(FULL_V1, *FULL_FILES)).stages["ingest"]
    assert ingest.kind == "batch"
    assert ingest.path == "pipeline/ingest.py"
    assert not ingest.is_notebook
    assert ingest.args == ("--since", "2021-01-01")
    assert ingest.requirements == ("pandas==1.3.5", "boto3>=1.20")
    assert ingest.requirements_file is None
    assert ingest.resources.cpu_request == 0.5
    assert ingest.resources.memory_request_mb == 256
    assert ingest.timeout_seconds == 120.0
    # Bodywork's retries became a Job's backoffLimit: 10 s doubling, capped at 6 minutes
    assert ingest.retries == RetryPolicy(count=2, max_backoff_seconds=360.0)
    assert ingest.secrets == {
        "AWS_ACCESS_KEY_ID": SecretRef(secret="aws-credentials", key="AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": SecretRef(secret="aws-credentials", key="AWS_SECRET_ACCESS_KEY"),
    }
    assert ingest.service is None
    assert ingest.env == {}
    assert ingest.parameters == {}


def test_a_notebook_stage_normalizes(project) -> None:
    train = load_pipeline(project(FULL_V1, *FULL_FILES)).stages["train_model"]
    assert train.path == "notebooks/train_model.ipynb"
    assert train.is_notebook
    assert train.resources.cpu_request == 2.0
    assert train.timeout_seconds == 1800.0
    assert train.retries.count == 1
    assert train.args == ()
    assert train.secrets == {}


def test_a_service_stage_normalizes(project) -> None:
    serve = load_pipeline(project(FULL_V1, *FULL_FILES)).stages["scoring-service"]
    assert serve.kind == "service"
    assert serve.service == ServiceSpec(port=5000, replicas=2, ingress=True)
    assert serve.timeout_seconds == 60.0
    assert serve.args == ("--port", "5000")
    assert serve.secrets == {"API_TOKEN": SecretRef(secret="scoring-token", key="API_TOKEN")}
    assert serve.retries == RetryPolicy()


def test_optional_pipeline_fields_may_be_left_out(project) -> None:
    pipeline = load_pipeline(project(MINIMAL_V1.format(level="INFO"), "job.py"))
    assert pipeline.namespace is None
    assert pipeline.secrets_group is None
    assert pipeline.run_on_failure is None
    stage = pipeline.stages["job"]
    assert stage.args == () and stage.requirements == () and stage.secrets == {}


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_log_levels(project, level: str) -> None:
    assert load_pipeline(project(MINIMAL_V1.format(level=level), "job.py")).log_level == level


def test_an_unquoted_version_is_accepted(project) -> None:
    text = MINIMAL_V1.format(level="INFO").replace('version: "1.1"', "version: 1.1")
    assert load_pipeline(project(text, "job.py")).source_version == "1.1"


def test_usage_stats_true_is_accepted_and_ignored(project) -> None:
    text = MINIMAL_V1.format(level="INFO").replace(
        "  DAG: job\n", "  DAG: job\n  usage_stats: true\n"
    )
    assert check(project(text, "job.py")).problems == []


def test_the_folder_or_the_file_may_be_given(project) -> None:
    root = project(MINIMAL_V1.format(level="INFO"), "job.py")
    assert load_pipeline(root) == load_pipeline(root / "bodywork.yaml")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert load_pipeline("bodywork.yaml").root == str(root.resolve())
        assert check("bodywork.yaml").problems == []
    finally:
        os.chdir(cwd)


def test_a_stage_not_in_the_dag_is_a_warning_and_left_out(project) -> None:
    text = FULL_V1.replace("  notify:\n", "  unused:\n").replace("run_on_failure: notify", "")
    result = check(project(text, *FULL_FILES))
    assert result.errors == []
    [warning] = result.warnings
    assert warning.render() == (
        f"{warning.file}:{line_no(text, 'unused:')}: warning: stages.unused: is not in pipeline.DAG, so it will not run "
        "- add it to the DAG or delete it"
    )
    assert result.pipeline is not None
    assert "unused" not in result.pipeline.stages
    assert set(result.pipeline.stages) == {"ingest", "train_model", "report", "scoring-service"}


def test_the_run_on_failure_stage_is_kept_outside_the_dag(project) -> None:
    pipeline = load_pipeline(project(FULL_V1, *FULL_FILES))
    assert "notify" in pipeline.stages
    assert "notify" not in [s.name for s in pipeline.dag_stages()]


# -- errors --------------------------------------------------------------------------------------


def line_no(text: str, needle: str) -> int:
    """The line (1-based) where ``needle`` first appears in ``text``."""
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  docker_image:",
            "  docker_imgae:",
            [
                (
                    "pipeline:",
                    "pipeline.docker_image: is required - add 'docker_image:' under pipeline",
                ),
                (
                    "docker_imgae",
                    "pipeline.docker_imgae: unknown key - did you mean 'docker_image'?",
                ),
            ],
        ),
        (
            "      retries: 2",
            "      retires: 2",
            [
                (
                    "    batch:",
                    "stages.ingest.batch.retries: is required - add 'retries:' under "
                    "stages.ingest.batch",
                ),
                ("retires", "stages.ingest.batch.retires: unknown key - did you mean 'retries'?"),
            ],
        ),
        (
            "    cpu_request: 0.5\n    memory_request_mb: 256",
            "    cpu_requests: 0.5\n    memory_request_mb: 256",
            [
                (
                    "  ingest:",
                    "stages.ingest.cpu_request: is required - add 'cpu_request:' under "
                    "stages.ingest",
                ),
                (
                    "cpu_requests",
                    "stages.ingest.cpu_requests: unknown key - did you mean 'cpu_request'?",
                ),
            ],
        ),
        (
            "      ingress: true",
            "      ingres: true",
            [
                (
                    "    service:",
                    "stages.scoring-service.service.ingress: is required - add "
                    "'ingress:' under stages.scoring-service.service",
                ),
                (
                    "ingres:",
                    "stages.scoring-service.service.ingres: unknown key - did you mean 'ingress'?",
                ),
            ],
        ),
        (
            "  log_level: INFO",
            "  log_level: VERBOSE",
            [
                (
                    "VERBOSE",
                    "logging.log_level: expected 'DEBUG', 'INFO', 'WARNING', 'ERROR' or "
                    "'CRITICAL', got 'VERBOSE' - use 'DEBUG', 'INFO', 'WARNING', 'ERROR' or "
                    "'CRITICAL'",
                ),
            ],
        ),
        (
            "logging:",
            "loging:",
            [
                ("version", ": section 'logging' is missing - add a 'logging:' section"),
                ("loging:", "loging: unknown section - did you mean 'logging'?"),
            ],
        ),
        (
            "      port: 5000",
            "      port: '5000'",
            [
                (
                    "'5000'",
                    "stages.scoring-service.service.port: expected a whole number, "
                    "got '5000' - write a whole number, e.g. 3",
                ),
            ],
        ),
        (
            "      replicas: 2",
            "      replicas: -1",
            [
                (
                    "replicas: -1",
                    "stages.scoring-service.service.replicas: must be at least 0, "
                    "got -1 - use 0 or more",
                ),
            ],
        ),
        (
            "    memory_request_mb: 1024",
            "    memory_request_mb: 1.5",
            [
                (
                    "1.5",
                    "stages.train_model.memory_request_mb: expected a whole number, got 1.5 "
                    "- write a whole number, e.g. 3",
                ),
            ],
        ),
        (
            "      max_completion_time_seconds: 1800",
            "      max_completion_time_seconds: 30m",
            [
                (
                    "30m",
                    "stages.train_model.batch.max_completion_time_seconds: expected a whole "
                    "number, got '30m' - write a whole number, e.g. 3",
                ),
            ],
        ),
        (
            "  name: churn-model",
            "  name: churn_model",
            [
                (
                    "churn_model",
                    "pipeline.name: may only hold letters, digits, '-' and '.', got "
                    "'churn_model' - rename it, e.g. 'my-pipeline'",
                ),
            ],
        ),
        (
            "  usage_stats: false",
            "  usage_stats: 'no'",
            [
                (
                    "usage_stats",
                    "pipeline.usage_stats: expected true or false, got 'no' - write true or false",
                ),
            ],
        ),
        (
            "notebooks/train_model.ipynb",
            "notebooks/train_model.txt",
            [
                (
                    "train_model.txt",
                    "stages.train_model.executable_module_path: must name a .py "
                    "or .ipynb file, got 'notebooks/train_model.txt' - point it at a module or "
                    "notebook",
                ),
            ],
        ),
        (
            "      AWS_ACCESS_KEY_ID: aws-credentials",
            "      AWS_ACCESS_KEY_ID: [aws-credentials]",
            [
                (
                    "AWS_ACCESS_KEY_ID",
                    "stages.ingest.secrets.AWS_ACCESS_KEY_ID: expected text, "
                    "got ['aws-credentials'] - put the value in quotes",
                ),
            ],
        ),
        (
            '    args: [--port, "5000"]',
            "    args: [--port, 5000]",
            [
                (
                    "args: [--port",
                    "stages.scoring-service.args[1]: expected text, got 5000 - "
                    "put the value in quotes",
                ),
            ],
        ),
        (
            "    requirements: [scikit-learn==1.0.2]",
            "    requirements: scikit-learn==1.0.2",
            [
                (
                    "requirements: scikit",
                    "stages.train_model.requirements: expected a list, got "
                    "'scikit-learn==1.0.2' - write a YAML list: '[a, b]' or one '- item' per line",
                ),
            ],
        ),
    ],
)
def test_errors_name_line_and_field(
    project, old: str, new: str, expected: list[tuple[str, str]]
) -> None:
    assert old in FULL_V1
    text = FULL_V1.replace(old, new, 1)
    root = project(text, *FULL_FILES)
    wanted = [f"{line_no(text, needle)} {what}" for needle, what in expected]
    assert [e for e in rendered(root) if "warning" not in e] == wanted
    assert check(root).pipeline is None


def test_a_stage_needs_batch_or_service(project) -> None:
    text = MINIMAL_V1.format(level="INFO").replace(
        "    batch:\n      max_completion_time_seconds: 30\n      retries: 0\n", ""
    )
    assert rendered(project(text, "job.py")) == [
        "7 stages.job: a stage needs exactly one of 'batch' or 'service' - add a 'batch:' "
        "section for a job or a 'service:' section for a server"
    ]


def test_a_stage_cannot_have_both_batch_and_service(project) -> None:
    service = FULL_V1.split("    service:\n")[1].split("  notify:")[0]
    text = MINIMAL_V1.format(level="INFO").replace(
        "logging:", "    service:\n" + service + "logging:"
    )
    [error] = rendered(project(text, "job.py"))
    assert error.startswith("7 stages.job: a stage needs exactly one of 'batch' or 'service'")


def test_every_problem_is_reported_at_once(project) -> None:
    text = (
        FULL_V1.replace("  docker_image: bodyworkml/bodywork-core:3.1\n", "")
        .replace("retries: 2", "retries: two")
        .replace("pipeline/report.py", "pipeline/reprot.py")
        .replace("ingress: true", "ingress: yes please")
    )
    root = project(text, *FULL_FILES)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(root)
    assert caught.value.exit_code == 2
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (line_no(text, "pipeline:"), "pipeline.docker_image"),
        (line_no(text, "retries: two"), "stages.ingest.batch.retries"),
        (line_no(text, "reprot.py"), "stages.report.executable_module_path"),
        (line_no(text, "yes please"), "stages.scoring-service.service.ingress"),
    ]
    assert caught.value.problems[2].hint == "did you mean 'report.py'?"


def test_config_error_text_is_one_rendered_problem_per_line(project) -> None:
    text = FULL_V1.replace("retries: 2", "retries: -2").replace("replicas: 2", "replicas: x")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(project(text, *FULL_FILES))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        f"bodywork.yaml:{line_no(text, 'retries: -2')}: stages.ingest.batch.retries: "
        "must be at least 0, got -2 - use 0 or more"
    )
    assert lines[1].endswith(
        f"bodywork.yaml:{line_no(text, 'replicas: x')}: stages.scoring-service.service.replicas: "
        "expected a whole number, got 'x' - write a whole number, e.g. 3"
    )


@pytest.mark.parametrize("section", ["pipeline", "stages", "logging"])
def test_missing_sections(project, section: str) -> None:
    lines = MINIMAL_V1.format(level="INFO").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines)
    )
    text = "".join(lines[:start] + lines[end:])
    errors = [e for e in rendered(project(text, "job.py")) if "warning" not in e]
    assert f"1 : section '{section}' is missing - add a '{section}:' section" in errors


@pytest.mark.parametrize(
    ("version", "message"),
    [("'1.2'", "unsupported version '1.2'"), ("3", "unsupported version 3")],
)
def test_unsupported_versions(project, version: str, message: str) -> None:
    text = MINIMAL_V1.format(level="INFO").replace('"1.1"', version)
    assert rendered(project(text, "job.py")) == [
        f'1 version: {message} - use "2.0" (or "1.1" for a Bodywork file)'
    ]


def test_a_missing_version(project) -> None:
    text = MINIMAL_V1.format(level="INFO").replace('version: "1.1"\n', "")
    assert rendered(project(text, "job.py")) == [
        '1 version: is required - add \'version: "2.0"\' (or "1.1" for a Bodywork file) at the top'
    ]


# -- stage files ---------------------------------------------------------------------------------


def with_path(path: str) -> str:
    return MINIMAL_V1.format(level="INFO").replace("job.py", path)


def test_a_missing_module_with_did_you_mean(project) -> None:
    assert rendered(project(with_path("stages/jbo.py"), "stages/job.py")) == [
        "8 stages.job.executable_module_path: module 'stages/jbo.py' does not exist - "
        "did you mean 'job.py'?"
    ]


def test_a_missing_module_without_a_near_name(project) -> None:
    [error] = rendered(project(with_path("nothing/here.py"), "job.py"))
    assert error.endswith(
        "module 'nothing/here.py' does not exist - "
        "fix the path (relative to bodywork.yaml's folder) or create it"
    )


def test_a_path_escaping_through_dotdot(project, tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text("print('outside')\n")
    assert rendered(project(with_path("../outside.py"))) == [
        "8 stages.job.executable_module_path: '../outside.py' points outside the project folder "
        "(via '..') - keep stage files inside the folder that holds bodywork.yaml"
    ]


def test_a_dotdot_that_stays_inside_is_fine(project) -> None:
    pipeline = load_pipeline(project(with_path("stages/../job.py"), "job.py"))
    assert pipeline.stages["job"].path == "job.py"


def test_a_path_escaping_through_a_symlink(project, tmp_path: Path) -> None:
    (tmp_path / "secret.py").write_text("print('outside')\n")
    root = project(with_path("job.py"))
    (root / "job.py").symlink_to(tmp_path / "secret.py")
    assert rendered(root) == [
        "8 stages.job.executable_module_path: 'job.py' points outside the project folder "
        "(via a symlink) - keep stage files inside the folder that holds bodywork.yaml"
    ]


def test_a_symlinked_folder_escaping(project, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "job.py").write_text("\n")
    root = project(with_path("linked/job.py"))
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    [error] = rendered(root)
    assert "points outside the project folder (via a symlink)" in error


def test_a_symlink_inside_the_project_is_fine(project) -> None:
    root = project(with_path("alias.py"), "real.py")
    (root / "alias.py").symlink_to(root / "real.py")
    assert load_pipeline(root).stages["job"].path == "alias.py"


def test_an_absolute_path(project, tmp_path: Path) -> None:
    target = tmp_path / "abs.py"
    target.write_text("\n")
    assert rendered(project(with_path(str(target)))) == [
        f"8 stages.job.executable_module_path: '{target}' is an absolute path - "
        "write it relative to bodywork.yaml"
    ]


def test_a_folder_named_like_a_module(project) -> None:
    root = project(with_path("job.py"))
    (root / "job.py").mkdir()
    assert rendered(root) == [
        "8 stages.job.executable_module_path: 'job.py' is not a file - point it at a module"
    ]


# -- version 1.0: Bodywork 2.x's format, read as 1.1 -------------------------------------------


def v1_0(text: str) -> str:
    """``text`` (a 1.1 file) as Bodywork 2.x wrote it: version 1.0, 'project' for 'pipeline'."""
    return text.replace('version: "1.1"', 'version: "1.0"').replace("pipeline:", "project:")


def test_a_1_0_file_is_read_as_1_1_and_says_how_to_make_it_one(project) -> None:
    old = load_pipeline(project(v1_0(FULL_V1), *FULL_FILES))
    new = load_pipeline(project(FULL_V1, *FULL_FILES))
    assert old.source_version == "1.0"
    assert old.model_dump(exclude={"source_version"}) == new.model_dump(exclude={"source_version"})
    assert rendered(project(v1_0(MINIMAL_V1.format(level="INFO")), "job.py")) == [
        "1 version: \"1.0\" is Bodywork 2.x's format, read as 1.1 (its 'project' is 1.1's "
        "'pipeline') - to deploy it with Bodywork 3 as well, set version: \"1.1\" and rename "
        "'project:' to 'pipeline:'"
    ]


def test_a_1_0_file_names_its_project_section_in_problems(project) -> None:
    text = v1_0(MINIMAL_V1.format(level="INFO")).replace("DAG: job", "DAG: jobb")
    errors = [e for e in rendered(project(text, "job.py")) if "warning" not in e]
    assert (
        "5 project.DAG: stage 'jobb' is in the DAG but not defined under 'stages' - did you mean 'job'?"
        in errors
    )


@pytest.mark.parametrize(
    ("version", "section", "message"),
    [
        (
            "1.0",
            "pipeline",
            "1 version: \"1.0\" calls its pipeline section 'project', but this file has "
            "'pipeline', as version 1.1 does - set version: \"1.1\" (Bodywork 3's format), or "
            "rename 'pipeline:' to 'project:'",
        ),
        (
            "1.1",
            "project",
            "1 version: \"1.1\" calls its pipeline section 'pipeline', but this file has "
            "'project', as version 1.0 does - rename 'project:' to 'pipeline:', or set version: "
            '"1.0" (Bodywork 2.x\'s format)',
        ),
    ],
)
def test_the_other_versions_section_name_is_one_clear_error(
    project, version: str, section: str, message: str
) -> None:
    text = (
        MINIMAL_V1.format(level="INFO")
        .replace('version: "1.1"', f'version: "{version}"')
        .replace("pipeline:", f"{section}:")
    )
    assert rendered(project(text, "job.py")) == [message]
