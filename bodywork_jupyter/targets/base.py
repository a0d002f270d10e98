"""The target seam: what every target does, and the typed options it is opened with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bodywork_jupyter.engine.store import Deployment, Event, Run, StageState
from bodywork_jupyter.errors import BadInputError
from bodywork_jupyter.plan.model import Plan


class TargetOptions(BaseModel):
    """Which target, and its settings: one object from every surface to the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "local"
    context: str | None = Field(None, description="kubeconfig context (kubernetes)")
    namespace: str | None = Field(None, description="namespace (kubernetes)")
    image: str | None = Field(None, description="stage image, instead of the default")
    state_dir: Path | None = Field(
        None, description="where this machine keeps run history (local)"
    )


class RunOptions(BaseModel):
    """How one run is executed, whatever the target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_parallel: Annotated[int, Field(ge=1, le=64)] = 4


class Target(ABC):
    """A place deployments live: submit, cancel and delete there; read runs back from it.

    Reads are raw records; ``bodywork_jupyter.reader.RunReader`` answers the questions
    surfaces ask (which run, settled, logs) on top of them, the same way for every target.
    """

    name: ClassVar[str]
    #: Stages fetch their code themselves on this target: a plain folder cannot go there.
    requires_git: ClassVar[bool] = False

    # -- changes ---------------------------------------------------------------------------

    def configure(self) -> list[str]:
        """Set the target up for deployments (``bodywork configure-cluster``); what it made
        or updated, e.g. ``["Namespace/iris", "Role/bodywork-controller"]``."""
        raise BadInputError(f"--target {self.name} needs no set-up")

    @abstractmethod
    def submit(self, plan: Plan, options: RunOptions) -> Run:
        """Record a run of ``plan`` and have it executed (returns at once)."""

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

    # -- raw reads -------------------------------------------------------------------------

    @abstractmethod
    def get_run(self, run_id: str, with_plan: bool = True) -> Run | None: ...

    @abstractmethod
    def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[Run]: ...

    @abstractmethod
    def runs(
        self, deployment: str | None = None, limit: int = 50, with_plan: bool = False
    ) -> list[Run]: ...

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
