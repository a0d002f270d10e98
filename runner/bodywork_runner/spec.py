"""The stage spec: everything the runner needs to run one stage, as one JSON document.

This is the stage image's API. The planner (bodywork_jupyter.plan) writes it; the
runner reads it from the file named by its first argument, or from the
BODYWORK_STAGE_SPEC environment variable. Secrets never appear in it: they reach
the runner as environment variables (``env_from_secrets`` names them).

Keep it backwards compatible: add optional fields, never change a meaning.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SPEC_VERSION = 1

#: The environment variable holding the number of an inherited listening socket that a
#: notebook service replica shares with the other replicas (the local target's declared
#: port: its backend owns the socket). The replica accepts from it only once it is sent
#: ``TAKE_TRAFFIC`` (its version has the port), and stops when it is told to stop.
SHARED_LISTENER_FD = "BODYWORK_SHARED_LISTENER_FD"
TAKE_TRAFFIC = signal.SIGUSR1


@dataclass(frozen=True)
class Source:
    """Where the code comes from: a git URL at an exact commit, or a local folder."""

    repo: str | None = None  # git URL (https://, ssh://, git@host:..., file://)
    commit: str | None = None  # full SHA: never a branch head
    local_path: str | None = None  # a folder on this machine, used as is
    project_dir: str = "."  # the folder holding bodywork.yaml, relative to the checkout


@dataclass(frozen=True)
class ServiceSettings:
    port: int  # the port the service listens on (for a notebook: where the runner serves it)
    host: str = "0.0.0.0"
    readiness_path: str = "/healthz"
    predict_function: str = "predict"
    # limits of a service the runner serves (a notebook), see bodywork_runner.limits; a module
    # binding its own port is its own server and sets its own
    max_body_bytes: int = 10_000_000  # a larger request body is refused with 413
    max_connections: int = 100  # open connections beyond it are answered 503 and closed
    header_timeout_seconds: float = 10.0  # a request's headers must arrive within it
    body_timeout_seconds: float = 60.0  # its body within this of its headers
    #: micro-batching of the predict function (bodywork_runner.batching): at most this many
    #: requests a call, 0 for none; the first of a batch waits at most the wait for more
    batch_max_size: int = 0
    batch_max_wait_ms: float = 5.0
    #: a module binding its own port waits this long for the port to be free, once its
    #: code and requirements are ready (0: the port must be free at once). On one machine
    #: the old version holds the port until the new one is built (``service.port_wanted``)
    port_wait_seconds: float = 0.0
    #: once told to stop, a notebook service keeps taking connections this long (each
    #: answer says ``Connection: close``) before it drains: on a cluster the pod's address
    #: leaves the Service's endpoints while the stop comes, and is still used meanwhile
    stop_delay_seconds: float = 0.0


@dataclass(frozen=True)
class StageSpec:
    pipeline: str
    stage: str
    kind: Literal["batch", "service"]
    file: str  # the notebook or module, relative to project_dir
    source: Source
    parameters: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_from_secrets: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    requirements_file: str | None = None  # relative to project_dir
    timeout_seconds: float | None = None
    service: ServiceSettings | None = None
    run_id: str = ""
    attempt: int = 1
    work_dir: str | None = None  # where the checkout goes (default: a temp folder)
    artifacts_dir: str | None = None  # executed notebook and other run artifacts
    cache_dir: str | None = None  # requirement environments, shared between runs
    emit_notebook: bool = False  # also send the executed notebook as events (notebook_events)
    python: str | None = None  # the Python the stage needs, e.g. "3.9" (None: the runner's)
    requirements_as_of: str | None = None  # RFC 3339: resolve as of then (uv exclude-newer)
    log_level: str = "INFO"
    version: int = SPEC_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StageSpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the stage spec must be a JSON object")
        if data.get("version", SPEC_VERSION) > SPEC_VERSION:
            raise ValueError(
                f"stage spec version {data['version']} is newer than this runner "
                f"({SPEC_VERSION}) - update the stage image"
            )
        source = Source(**data.pop("source"))
        service = data.pop("service", None)
        return cls(
            source=source,
            service=ServiceSettings(**service) if service else None,
            **data,
        )
