"""The target seam: what every target does, and the typed options it is opened with."""

from __future__ import annotations

import datetime
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bodywork_jupyter.engine.parallelism import (
    DEFAULT_MAX_PARALLEL,
    MAX_MAX_PARALLEL,
    MIN_MAX_PARALLEL,
)
from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BadInputError, TargetUnreachableError
from bodywork_jupyter.plan.model import Plan


class TargetOptions(BaseModel):
    """Which target, and its settings: one object from every surface to the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "local"
    context: str | None = Field(None, description="kubeconfig context (kubernetes)")
    namespace: str | None = Field(None, description="namespace (kubernetes)")
    image: str | None = Field(None, description="stage image, instead of the default")
    state_dir: Path | None = Field(None, description="where this machine keeps run history (local)")


class ClusterChanges(BaseModel):
    """What ``configure-cluster`` changes in a namespace's settings.

    None keeps a setting as it is; "" (or an empty tuple) clears it. Volumes are
    ``pvc:NAME`` (a claim made when it does not exist) or ``none``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_volume: str | None = None
    cache_volume: str | None = None
    image: str | None = None
    image_pull_secrets: tuple[str, ...] | None = None
    git_secret: str | None = None
    ingress_class: str | None = None


class RunOptions(BaseModel):
    """How one run is executed, whatever the target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_parallel: Annotated[int, Field(ge=MIN_MAX_PARALLEL, le=MAX_MAX_PARALLEL)] = (
        DEFAULT_MAX_PARALLEL
    )


@dataclass(frozen=True)
class StoredSecret:
    """A secret as a target keeps it, told without its values: every surface may show it."""

    name: str
    group: str | None
    keys: tuple[str, ...]
    #: Where it is kept, e.g. the Kubernetes namespace (None: on this machine).
    namespace: str | None = None
    #: The target's own name for it, e.g. the Kubernetes Secret ``GROUP-NAME``.
    stored_as: str = ""


@dataclass(frozen=True)
class StoredSchedule:
    """A deployment's schedule as a target keeps it: every surface may show it."""

    name: str  # the deployment's (its pipeline's)
    cron: str  # five fields, read in UTC
    paused: bool
    next_fire: float | None  # epoch seconds; None while paused
    last_fire: float | None  # when it last started a run (None: not yet)
    last_run: str | None  # that run's id, when the target knows it
    last_status: str | None = None  # and its status
    source: str = ""  # what it runs, e.g. "https://github.com/org/repo@1a2b3c4d"
    skipped: int | None = None  # fires that came while a run was going (None: not counted)
    namespace: str | None = None  # where it is kept, e.g. the Kubernetes namespace
    stored_as: str = ""  # the target's own name for it, e.g. "CronJob iris-schedule"


def next_fire(cron: str, after: float) -> float:
    """When ``cron`` fires next after ``after`` (epoch seconds), read in UTC on every target
    (a CronJob of ours has ``timeZone: Etc/UTC``)."""
    from croniter import croniter  # ~30 ms to import: only where schedules are read

    start = datetime.datetime.fromtimestamp(after, datetime.UTC)
    return float(croniter(cron, start).get_next(float))


class Target(ABC):
    """A place deployments live: submit, cancel and delete there; read runs back from it.

    Reads are raw records; ``bodywork_jupyter.reader.RunReader`` answers the questions
    surfaces ask (which run, settled, logs) on top of them, the same way for every target.
    """

    name: ClassVar[str]
    #: Stages fetch their code themselves on this target: a plain folder cannot go there.
    requires_git: ClassVar[bool] = False
    #: Stages run in a pulled image here (so ``--image-pull-secret`` means something).
    pulls_images: ClassVar[bool] = False

    # -- changes ---------------------------------------------------------------------------

    def configure(self, changes: ClusterChanges | None = None) -> list[str]:
        """Set the target up for deployments (``bodywork configure-cluster``); what it made
        or updated, e.g. ``["Namespace/iris", "Role/bodywork-controller"]``, then the
        settings it keeps, e.g. ``["data volume: pvc:bodywork-data"]``."""
        raise BadInputError(f"--target {self.name} needs no set-up")

    def notes(self, plan: Plan) -> list[str]:
        """What this target says about ``plan`` before it runs (how it differs here)."""
        return []

    def environment_cache(self) -> Path | None:
        """The folder on this machine where this target's stages keep their requirement
        environments (``bodywork cache``); None when they are kept elsewhere."""
        return None

    def call_service(
        self, url: str, path: str, body: bytes | None, timeout: float = 30.0
    ) -> tuple[int, bytes]:
        """Send a request to a service at ``url`` (one this target reported), from here:
        POST with ``body`` (JSON), else GET. The status and the answer."""
        request = urllib.request.Request(
            url.rstrip("/") + path,
            data=body,
            method="POST" if body is not None else "GET",
            headers={"content-type": "application/json"} if body is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TargetUnreachableError(f"{url} does not answer ({reason})") from None

    @abstractmethod
    def submit(self, plan: Plan, options: RunOptions, started_by: str | None = None) -> Run:
        """Record a run of ``plan`` and have it executed (returns at once); ``started_by``
        is kept with the run (``engine.started_by``: who asked for it)."""

    @abstractmethod
    def cancel(self, run_id: str) -> None:
        """Ask for a queued or running run to be cancelled."""

    @abstractmethod
    def delete(self, name: str, timeout: float = 60.0) -> Deployment:
        """Stop a deployment's services and forget it as current (its history stays)."""

    def refresh(self) -> None:  # noqa: B027 - optional: a target that knows liveness itself
        """Settle runs nobody drives any more as ``lost`` (each target knows how to tell)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""

    # -- secrets (bodywork secret): optional, a target that keeps none refuses -----------------

    def create_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        """Store a new secret of ``data`` (key -> value) for stages to read as env vars."""
        raise self._keeps_no_secrets()

    def update_secret(
        self, name: str, data: Mapping[str, str], group: str | None = None
    ) -> StoredSecret:
        """Set ``data``'s keys in an existing secret; its other keys stay."""
        raise self._keeps_no_secrets()

    def list_secrets(self, group: str | None = None) -> list[StoredSecret]:
        """The secrets kept here (of ``group``, if given): names and keys, never values."""
        raise self._keeps_no_secrets()

    def delete_secret(self, name: str, group: str | None = None) -> StoredSecret:
        """Remove a secret; what it was."""
        raise self._keeps_no_secrets()

    def _keeps_no_secrets(self) -> BadInputError:
        return BadInputError(
            f"--target {self.name} keeps no secrets - keep one where its stages run: on this "
            "machine (bodywork secret create NAME KEY=VALUE --target local) or in a cluster "
            "(... --target kubernetes --namespace NS)"
        )

    # -- schedules (bodywork schedule, Bodywork's cronjob): optional, else refused -----------

    def set_schedule(
        self, plan: Plan, options: RunOptions, *, exists: bool | None = None
    ) -> StoredSchedule:
        """Run ``plan`` on ``plan.schedule`` from now on, without a run now (Bodywork's
        ``create|update cronjob``). ``exists``: False refuses if the deployment has a
        schedule, True unless it has one. A paused schedule stays paused."""
        raise self._keeps_no_schedules()

    def schedules(self) -> list[StoredSchedule]:
        """Every schedule kept here."""
        raise self._keeps_no_schedules()

    def pause_schedule(self, name: str, paused: bool = True) -> StoredSchedule:
        """Pause (or resume) deployment ``name``'s schedule; a run going is not stopped."""
        raise self._keeps_no_schedules()

    def delete_schedule(self, name: str) -> StoredSchedule:
        """Remove deployment ``name``'s schedule (the deployment stays); what it was."""
        raise self._keeps_no_schedules()

    def schedule_history(self, name: str, limit: int = 20) -> list[Run]:
        """The runs deployment ``name``'s schedule started, newest first: those recorded
        with ``options.scheduled`` (every target records them so)."""
        runs = self.runs(name, limit=max(limit * 5, 100))
        return [r for r in runs if r.options.get("scheduled")][:limit]

    def _keeps_no_schedules(self) -> BadInputError:
        return BadInputError(
            f"--target {self.name} keeps no schedules - use --target local or kubernetes"
        )

    # -- raw reads -------------------------------------------------------------------------

    @abstractmethod
    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None: ...

    @abstractmethod
    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]: ...

    @abstractmethod
    def runs(
        self,
        deployment: str | None = None,
        limit: int = 50,
        with_plan: bool = False,
        status: str | None = None,
    ) -> list[Run]:
        """Runs newest first; ``status``: only runs in that state."""

    @abstractmethod
    def stages(self, run_id: str) -> list[StageState]: ...

    @abstractmethod
    def events(self, run_id: str, after: int = 0) -> list[Event]: ...

    @abstractmethod
    def last_seq(self) -> int:
        """A number that grows with every change (for caches)."""

    @abstractmethod
    def get_deployment(self, name: str) -> Deployment | None: ...

    @abstractmethod
    def deployments(self, include_deleted: bool = False) -> list[Deployment]: ...

    @abstractmethod
    def read_log(
        self, run_id: str, stage: StageState, offset: int, limit: int
    ) -> tuple[bytes, int]:
        """Raw bytes of the stage's current attempt's log from ``offset``, and its size."""

    @abstractmethod
    def executed_notebook(self, run_id: str, stage: StageState) -> bytes | None:
        """The executed notebook of the stage's last attempt, if it has one."""

    def ingress_urls(self, run_id: str) -> dict[str, str | None]:
        """Where the run's services are reached from outside the cluster (an Ingress), by
        stage: a URL, or None while it has no address yet; none on a target without."""
        return {}
