"""The ``bodywork.yaml`` 2.0 schema: a superset of Bodywork 1.1, written per stage.

The field descriptions here are the reference documentation: ``bodywork schema``
and ``docs/reference/bodywork-yaml-2.0.md`` are generated from them.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
)

from bodywork_jupyter.pipeline.schema_v1 import LogLevel

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)
DURATION_PATTERN = r"^(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?$"


def parse_duration(value: float | str) -> float:
    """Seconds from a number of seconds or a string such as '90s', '10m' or '1h30m'."""
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a duration - write a number of seconds, e.g. 600")
        if value < 0:
            raise ValueError("a duration cannot be negative - write 0 or more seconds")
        return float(value)
    match = _DURATION.match(value)
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(
            f"'{value}' is not a duration - "
            "write seconds (600) or a string like '90s', '10m', '1h30m'"
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _check_cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(
            f"'{value}' is not a cron expression - use five fields, e.g. '0 3 * * *' (03:00 daily)"
        )
    return value


Duration = Annotated[
    # the pattern is for the JSON Schema only: parse_duration gives the readable error
    float | Annotated[str, WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN})],
    AfterValidator(parse_duration),
    Field(description="Seconds, or a string like '90s', '10m', '1h30m'."),
]
Cron = Annotated[str, AfterValidator(_check_cron)]

#: A Python version a stage may ask for: 3.9, or 3.9.18 (always text: 3.10 is not 3.1).
PYTHON_PATTERN = r"^3\.\d{1,2}(\.\d{1,3})?$"
_PYTHON_HELP = (
    'The Python version the stage needs, in quotes: "3.9" (or "3.9.18"). A version other '
    "than the runner's (3.11 in the stage image) is looked up where the stage runs, else "
    "downloaded by uv (which needs to reach GitHub); its environment gets the stage's "
    "requirements (and ipykernel for a notebook). A notebook service always runs on the "
    "runner's Python."
)
AS_OF_PATTERN = r"^(commit|\d{4}-\d{2}-\d{2})$"


def _date_text(value: object) -> object:
    # YAML reads an unquoted 2022-06-01 as a date: the same as the text
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, datetime.date) else value


def _check_as_of(value: str) -> str:
    if value == "commit":
        return value
    if re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValueError(
        f"'{value}' is neither commit nor a date - write commit (the deployed commit's date) "
        "or a date such as 2022-06-01"
    )


AsOf = Annotated[
    str,
    BeforeValidator(_date_text),
    AfterValidator(_check_as_of),
    WithJsonSchema({"type": "string", "pattern": AS_OF_PATTERN}),
]
EnvValue = str | int | float | bool

#: The largest example request body kept (as JSON): it is stored in every run's plan,
#: and on a cluster in records of at most 1 MiB.
EXAMPLE_BYTES = 64 * 1024


def _check_example(value: object) -> object:
    """Only what JSON can say (YAML can say more: dates, sets, keys that are not text),
    in words a person can act on; pydantic's JsonValue checks the rest."""
    why = _not_json(value)
    if why is not None:
        raise ValueError(
            f"is not JSON: {why} - write text, numbers, true/false, null, lists and mappings "
            "(quote a date or a key that is not text)"
        )
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > EXAMPLE_BYTES:
        raise ValueError(
            f"is {size} bytes as JSON, more than {EXAMPLE_BYTES} - give a smaller example "
            "(it is kept with every run)"
        )
    return value


def _not_json(value: object, where: str = "") -> str | None:
    """What in ``value`` JSON cannot hold (and where), or None."""
    at = f" at {where}" if where else ""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value}{at} is not a finite number"
    if isinstance(value, list):
        for index, item in enumerate(value):
            why = _not_json(item, f"{where}[{index}]")
            if why is not None:
                return why
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"key {key!r}{at} is not text (quote it)"
            why = _not_json(item, f"{where}.{key}" if where else key)
            if why is not None:
                return why
        return None
    if isinstance(value, datetime.date):  # YAML reads an unquoted 2024-01-31 as a date
        return f"the date {value.isoformat()}{at}"
    return f"a {type(value).__name__}{at}"


Example = Annotated[JsonValue, BeforeValidator(_check_example)]

#: A Kubernetes Secret's name: a DNS-1123 subdomain of at most 253 characters (the rule
#: ``plan.kubernetes.names.is_object_name`` keeps for every object name).
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_NAME_LIMIT = 253
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN.removeprefix("^").removesuffix("$"))


def _check_secret_name(value: str) -> str:
    if len(value) > SECRET_NAME_LIMIT or not _SECRET_NAME.fullmatch(value):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ValueError(
            f"{shown!r} is not a Kubernetes Secret name - write the Secret's name: lower-case "
            f"letters, digits, '-' and '.' (at most {SECRET_NAME_LIMIT}), e.g. regcred"
        )
    return value


SecretName = Annotated[
    str,
    AfterValidator(_check_secret_name),
    WithJsonSchema(
        {"type": "string", "pattern": SECRET_NAME_PATTERN, "maxLength": SECRET_NAME_LIMIT}
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResourcesV2(_Strict):
    """Compute resources for each replica or attempt of a stage."""

    cpu_request: float | None = Field(None, ge=0, description="CPU cores requested, e.g. 0.5.")
    cpu_limit: float | None = Field(None, gt=0, description="CPU cores the stage may not exceed.")
    memory_request_mb: int | None = Field(None, ge=0, description="Memory requested, in MB.")
    memory_limit_mb: int | None = Field(None, gt=0, description="Memory limit, in MB.")
    gpu: int = Field(0, ge=0, description="Number of GPUs (nvidia.com/gpu) to request.")


class RetriesV2(_Strict):
    """How often, and how patiently, a failed batch stage is tried again."""

    count: int = Field(0, ge=0, description="Attempts after the first one fails.")
    backoff: Duration = Field(10.0, description="Wait before the first retry.")
    backoff_factor: float = Field(2.0, ge=1, description="Each wait is this much longer.")
    max_backoff: Duration = Field(300.0, description="The longest wait between attempts.")


class BatchV2(_Strict):
    """Micro-batching of a served ``predict_function`` (opt-in)."""

    max_size: int = Field(
        32, ge=1, le=1024, description="At most this many requests go to one call."
    )
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        le=1000,
        description=(
            "The longest the first request of a batch waits for others to join it; a "
            "batch that is full goes at once, and requests that arrive while the model "
            "works on one batch make the next."
        ),
    )


class SecretRefV2(_Strict):
    """One key of a named secret, injected as an environment variable."""

    secret: str = Field(description="The secret's name (in the pipeline's secrets group).")
    key: str | None = Field(None, description="The key in the secret; default: the variable name.")


class ServiceV2(_Strict):
    """A long-running stage that serves HTTP."""

    port: int = Field(8000, ge=1, le=65535, description="The port the service listens on.")
    replicas: int = Field(1, ge=0, description="Copies of the service behind one address.")
    readiness_path: str | None = Field(
        None,
        pattern=r"^/",
        description=(
            "HTTP path that answers 2xx once the service is ready. Default: the runner's "
            "/healthz for a notebook service; a TCP check of `port` for a module that "
            "starts its own server."
        ),
    )
    ingress: bool = Field(False, description="Expose the service outside the cluster.")
    predict_function: str = Field(
        "predict",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description=(
            "For a notebook that defines no `app`: the function served as POST /predict "
            "(JSON in, JSON out)."
        ),
    )
    max_body_mb: float = Field(
        10.0,
        gt=0,
        le=1024,
        description=(
            "A notebook service refuses a larger request body with 413 (JSON), reading no "
            "more of it. A module starting its own server sets its own limits."
        ),
    )
    max_connections: int = Field(
        100,
        ge=1,
        le=10000,
        description=(
            "Open connections a notebook service replica holds. At the limit a new one "
            "takes the place of the one waiting longest (1 s or more) for a request, or, "
            "when all have a request under way, gets 503 (JSON). A module starting its own "
            "server sets its own limits."
        ),
    )
    batch: BatchV2 | None = Field(
        None,
        description=(
            "Opt-in micro-batching of `predict_function`: requests arriving together are "
            "passed to it as one list (it returns a list of answers, one per request, in "
            "order); each caller gets its own answer, and an exception returned in its "
            "place is its own error. For models whose predict costs milliseconds. Not for "
            "a notebook that defines `app`, nor a module."
        ),
    )
    example: Example = Field(
        None,
        description=(
            "An example request body (any JSON value, written as YAML), kept with each run "
            "(at most 64 KB): the JupyterLab panel's and the RunView widget's \"try it\" "
            "box starts with it. Default: the literal the notebook (or module) passes to "
            "its `predict_function` in the first call with one, e.g. a last cell "
            '`predict({"x": 1})`; else none.'
        ),
    )


class StageV2(_Strict):
    """One stage: a notebook or Python module run as a batch job or served."""

    path: str = Field(
        pattern=r".+\.(py|ipynb)$",
        description="The notebook (.ipynb) or module (.py), relative to bodywork.yaml's folder.",
    )
    kind: Literal["batch", "service"] | None = Field(
        None, description="'batch' (runs to completion) or 'service'; default from `service`."
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Stages that must succeed before this one starts."
    )
    parameters: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Values for the notebook's papermill `parameters` cell (typed YAML values).",
    )
    args: list[str] = Field(default_factory=list, description="Command-line arguments (.py).")
    env: dict[str, EnvValue] = Field(default_factory=dict, description="Environment variables.")
    secrets: dict[str, str | SecretRefV2] = Field(
        default_factory=dict,
        description=(
            "ENV_VAR: secret-name (the key is ENV_VAR, as in Bodywork), or "
            "ENV_VAR: {secret: name, key: key}."
        ),
    )
    requirements: list[str] | str = Field(
        default_factory=list,
        description="Packages to install: a list of requirement lines, or a requirements file.",
    )
    python: str | None = Field(
        None, pattern=PYTHON_PATTERN, description=_PYTHON_HELP + " Default: the pipeline's."
    )
    image: str | None = Field(None, description="The image for this stage; default: pipeline's.")
    resources: ResourcesV2 = Field(
        default_factory=ResourcesV2, description="CPU, memory and GPU requests and limits."
    )
    timeout: Duration | None = Field(
        None,
        description=(
            "Batch: the longest one attempt may run. Service: the longest it may take to be ready."
        ),
    )
    retries: Annotated[int, Field(ge=0)] | RetriesV2 = Field(
        0, description="Retries of a failed batch stage: a count, or a policy with backoff."
    )
    service: ServiceV2 | None = Field(None, description="Makes the stage a service.")


class PipelineV2(_Strict):
    """Settings for the whole pipeline."""

    name: str = Field(
        pattern=r"^[a-zA-Z0-9.-]+$", description="Labels every resource of the pipeline."
    )
    image: str | None = Field(None, description="The stage image; default: bodywork-jupyter's.")
    image_pull_secrets: list[SecretName] = Field(
        default_factory=list,
        description=(
            "Secrets in the namespace (kubectl create secret docker-registry) a cluster pulls "
            "the images with, e.g. [regcred]: the `imagePullSecrets` of every stage pod and "
            "the controller's, and of an Argo export. After the namespace's (`configure-cluster "
            "--image-pull-secret`), before `--image-pull-secret`'s; each name once. Not used "
            "on this machine."
        ),
    )
    namespace: str | None = Field(None, description="The Kubernetes namespace to deploy to.")
    secrets_group: str | None = Field(None, description="The group stage secrets are read from.")
    schedule: Cron | None = Field(None, description="Run the pipeline on a cron schedule.")
    run_on_failure: str | None = Field(
        None, description="A batch stage run (outside the DAG) when a run fails."
    )
    log_level: LogLevel = Field("INFO", description="Log level of the runner.")
    python: str | None = Field(
        None,
        pattern=PYTHON_PATTERN,
        description=_PYTHON_HELP + " Default: the runner's. A stage's own `python` wins.",
    )
    requirements_as_of: AsOf | None = Field(
        None,
        description=(
            "Resolve the stages' requirements as they were on a date, leaving out packages "
            "published after it (uv's exclude-newer): `commit` (the day of the deployed "
            "commit) or a date such as 2022-06-01 (that day included). Default: off; a "
            "Bodywork 1.1 file is resolved as of its commit. `bodywork deploy "
            "--requirements-as-of commit|DATE|none` overrides it."
        ),
    )


class FileV2(_Strict):
    """A bodywork.yaml, version 2.0."""

    model_config = ConfigDict(title="bodywork.yaml 2.0")

    version: Literal["2.0"]
    pipeline: PipelineV2
    stages: dict[str, StageV2] = Field(description="The stages, by name.")


#: Top-level sections of a 2.0 file that must be present.
SECTIONS_V2 = ("version", "pipeline", "stages")
